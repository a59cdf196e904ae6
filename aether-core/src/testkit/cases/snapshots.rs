//! Snapshots: round trip, latest is highest, per actor, bad ids.

use std::sync::Arc;

use serde_json::json;

use crate::{EventStore, SnapshotStore};

use super::support::*;

/// Unknown actor: `get_latest_snapshot` is `None`.
pub async fn unknown_actor_has_no_snapshot<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let snapshot = store.get_latest_snapshot(&actor("nobody")).await.unwrap();
    assert_eq!(snapshot, None, "an unknown actor has no snapshot");
}

/// A saved snapshot reads back equal.
pub async fn snapshot_round_trips<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let mut snap = snapshot(&id, 7);
    snap.state = json!({ "balance": 69.5, "owner": "Ada", "tags": ["a"], "none": null });
    store.save_snapshot(&snap).await.unwrap();
    assert_eq!(store.get_latest_snapshot(&id).await.unwrap(), Some(snap));
    let seed = crate::testkit::seed_vectors().snapshots.remove(0);
    let mut seed_snap = seed.clone();
    seed_snap.actor_id = actor(&seed.actor_id);
    store.save_snapshot(&seed_snap).await.unwrap();
    assert_eq!(
        store
            .get_latest_snapshot(&seed_snap.actor_id)
            .await
            .unwrap(),
        Some(seed_snap)
    );
}

/// The latest snapshot is the one with the highest version, not the last saved.
pub async fn latest_snapshot_is_highest_version<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    for v in [5, 9, 3] {
        store.save_snapshot(&snapshot(&id, v)).await.unwrap();
    }
    let latest = store
        .get_latest_snapshot(&id)
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(latest, snapshot(&id, 9));
    store.save_snapshot(&snapshot(&id, 12)).await.unwrap();
    let latest = store
        .get_latest_snapshot(&id)
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(latest.version, 12);
}

/// Snapshots are kept per actor.
pub async fn snapshots_are_per_actor<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let (a, b, c) = (actor("a"), actor("b"), actor("c"));
    store.save_snapshot(&snapshot(&a, 3)).await.unwrap();
    store.save_snapshot(&snapshot(&b, 8)).await.unwrap();
    assert_eq!(
        store.get_latest_snapshot(&a).await.unwrap(),
        Some(snapshot(&a, 3))
    );
    assert_eq!(
        store.get_latest_snapshot(&b).await.unwrap(),
        Some(snapshot(&b, 8))
    );
    assert_eq!(store.get_latest_snapshot(&c).await.unwrap(), None);
    assert_eq!(
        store.get_latest_version(&a).await.unwrap(),
        0,
        "snapshots are not events"
    );
}

/// A snapshot with an empty actor id is refused, never a panic.
pub async fn snapshot_with_empty_actor_id_is_rejected<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    expect_invalid_input(
        store.save_snapshot(&snapshot("", 1)).await,
        "save_snapshot with empty id",
    );
    expect_invalid_input(
        store.get_latest_snapshot("").await.map(drop),
        "get_latest_snapshot with empty id",
    );
}
