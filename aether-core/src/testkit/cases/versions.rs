//! Unknown actors, single saves and the version check, batches, reads in order.

use std::sync::Arc;

use serde_json::json;

use crate::{Event, EventStore, StoreError};

use super::support::*;

/// Unknown actor: `get_latest_version` is 0.
pub async fn unknown_actor_has_version_zero<S: EventStore + ?Sized>(store: Arc<S>) {
    let latest = store.get_latest_version(&actor("nobody")).await.unwrap();
    assert_eq!(latest, 0, "an unknown actor has version 0");
}

/// Unknown actor: `get_events` is empty.
pub async fn unknown_actor_has_no_events<S: EventStore + ?Sized>(store: Arc<S>) {
    let events = store.get_events(&actor("nobody"), 0).await.unwrap();
    assert!(events.is_empty(), "an unknown actor has no events");
}

/// An event saved with `save_event` reads back equal, field for field.
pub async fn save_event_then_read_back<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let first = event(&id, 1);
    let mut second = event(&id, 2);
    second.command_id = None;
    second.data = json!({ "nested": { "list": [1, 2.5, "three", null], "ok": true } });
    store.save_event(&first).await.unwrap();
    store.save_event(&second).await.unwrap();
    assert_eq!(store.get_events(&id, 1).await.unwrap(), vec![first, second]);
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 2);
}

/// Saving a version equal to the latest conflicts, naming actor, attempted and current.
pub async fn save_event_rejects_equal_version<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    save_all(&*store, &id, &[1, 2, 3]).await;
    expect_conflict(store.save_event(&event(&id, 3)).await, &id, 3, 3);
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 3);
}

/// Saving a version below the latest conflicts.
pub async fn save_event_rejects_lower_version<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    save_all(&*store, &id, &[1, 2, 3, 4, 5]).await;
    expect_conflict(store.save_event(&event(&id, 2)).await, &id, 2, 5);
    assert_eq!(
        versions(&store.get_events(&id, 0).await.unwrap()),
        [1, 2, 3, 4, 5]
    );
}

/// Version 0 and negative versions always conflict, even for a new actor.
pub async fn save_event_rejects_zero_and_negative_versions<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    expect_conflict(store.save_event(&event(&id, 0)).await, &id, 0, 0);
    expect_conflict(store.save_event(&event(&id, -1)).await, &id, -1, 0);
    expect_conflict(
        store.save_event(&event(&id, i64::MIN)).await,
        &id,
        i64::MIN,
        0,
    );
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 0);
    assert!(store.get_events(&id, i64::MIN).await.unwrap().is_empty());
}

/// Gaps are allowed (1, 5, 9), and a later version below the latest still conflicts.
pub async fn gaps_are_allowed<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    for v in [1, 5, 9] {
        store.save_event(&event(&id, v)).await.unwrap();
    }
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 9);
    assert_eq!(
        versions(&store.get_events(&id, 0).await.unwrap()),
        [1, 5, 9]
    );
    expect_conflict(store.save_event(&event(&id, 6)).await, &id, 6, 9);
    let batch = [event(&id, 7), event(&id, 12)];
    expect_conflict(store.save_events(&batch).await, &id, 7, 9);
    store.save_event(&event(&id, i64::MAX)).await.unwrap();
    assert_eq!(store.get_latest_version(&id).await.unwrap(), i64::MAX);
}

/// `save_events` stores a batch; all its events read back in order.
pub async fn save_events_is_atomic<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let batch = save_all(&*store, &id, &[1, 2, 3]).await;
    let more = save_all(&*store, &id, &[4, 7, 8]).await;
    let all: Vec<Event> = batch.into_iter().chain(more).collect();
    assert_eq!(store.get_events(&id, 0).await.unwrap(), all);
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 8);
}

/// A batch whose first version conflicts stores none of its events, even the later ones
/// that alone would not conflict.
pub async fn save_events_conflict_stores_nothing<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let stored = save_all(&*store, &id, &[1, 2, 3]).await;
    let batch = [event(&id, 3), event(&id, 4), event(&id, 5)];
    expect_conflict(store.save_events(&batch).await, &id, 3, 3);
    assert_eq!(
        store.get_events(&id, 0).await.unwrap(),
        stored,
        "nothing of a refused batch is stored"
    );
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 3);
}

/// A batch mixing actors is refused whole with an invalid-input error.
pub async fn save_events_rejects_mixed_actors<S: EventStore + ?Sized>(store: Arc<S>) {
    let (a, b) = (actor("a"), actor("b"));
    let batch = [event(&a, 1), event(&b, 2)];
    let result = store.save_events(&batch).await;
    match &result {
        Err(err @ StoreError::InvalidInput { .. }) => {
            assert!(
                err.to_string().contains(&a),
                "the error names the actor: {err}"
            );
        }
        other => panic!("a mixed batch must be InvalidInput, got {other:?}"),
    }
    assert!(store.get_events(&a, 0).await.unwrap().is_empty());
    assert!(store.get_events(&b, 0).await.unwrap().is_empty());
}

/// A batch whose versions do not strictly increase is refused whole.
pub async fn save_events_rejects_non_increasing_versions<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    expect_invalid_input(
        store
            .save_events(&[event(&id, 1), event(&id, 3), event(&id, 2)])
            .await,
        "decreasing versions",
    );
    expect_invalid_input(
        store.save_events(&[event(&id, 1), event(&id, 1)]).await,
        "repeated version",
    );
    assert!(store.get_events(&id, 0).await.unwrap().is_empty());
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 0);
}

/// An empty batch succeeds and stores nothing.
pub async fn save_events_empty_batch_does_nothing<S: EventStore + ?Sized>(store: Arc<S>) {
    store
        .save_events(&[])
        .await
        .expect("an empty batch is not an error");
    let id = actor("account");
    save_all(&*store, &id, &[1]).await;
    store.save_events(&[]).await.unwrap();
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 1);
}

/// `get_events(actor, from)`: `from` is inclusive, results ascend by version.
pub async fn get_events_from_is_inclusive_and_ascending<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    save_all(&*store, &id, &[1, 2]).await;
    save_all(&*store, &id, &[4, 6, 10]).await;
    assert_eq!(
        versions(&store.get_events(&id, 4).await.unwrap()),
        [4, 6, 10]
    );
    assert_eq!(versions(&store.get_events(&id, 5).await.unwrap()), [6, 10]);
    assert_eq!(versions(&store.get_events(&id, 10).await.unwrap()), [10]);
    assert!(store.get_events(&id, 11).await.unwrap().is_empty());
    assert_eq!(
        versions(&store.get_events(&id, -5).await.unwrap()),
        [1, 2, 4, 6, 10]
    );
    assert_eq!(
        versions(&store.get_events(&id, i64::MIN).await.unwrap()),
        [1, 2, 4, 6, 10]
    );
}

/// A stored event cannot be replaced by saving another with its version.
pub async fn stored_events_are_immutable<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let original = save_all(&*store, &id, &[1]).await;
    let mut forged = event(&id, 1);
    forged.data = json!({ "forged": true });
    expect_conflict(store.save_event(&forged).await, &id, 1, 1);
    assert_eq!(store.get_events(&id, 0).await.unwrap(), original);
}
