//! The conformance cases, one public async function per behaviour.
//!
//! Each function panics (with a message naming the broken rule) when the store under test
//! does not behave. They are normally run through
//! [`snapshot_store_conformance!`](crate::snapshot_store_conformance) or
//! [`event_store_conformance!`](crate::event_store_conformance), which run every case
//! within time limits (see [the testkit docs](super#time-limits)).
//!
//! # The cases
//!
//! Reads of an unknown actor:
//! [`unknown_actor_has_version_zero`], [`unknown_actor_has_no_events`],
//! [`unknown_actor_has_no_snapshot`].
//!
//! The version check:
//! [`save_event_then_read_back`], [`save_event_rejects_equal_version`],
//! [`save_event_rejects_lower_version`], [`save_event_rejects_zero_and_negative_versions`],
//! [`gaps_are_allowed`], [`stored_events_are_immutable`].
//!
//! Batches:
//! [`save_events_is_atomic`], [`save_events_conflict_stores_nothing`],
//! [`save_events_rejects_mixed_actors`], [`save_events_rejects_non_increasing_versions`],
//! [`save_events_empty_batch_does_nothing`].
//!
//! Reads and data:
//! [`get_events_from_is_inclusive_and_ascending`], [`long_history_read_from_the_middle`],
//! [`seed_vectors_round_trip_through_store`],
//! [`special_actor_ids_are_kept_apart_and_intact`], [`empty_actor_id_is_rejected`].
//!
//! Concurrency (every racing call must return, with success or a version conflict):
//! - [`fifty_actors_written_concurrently`]: many actors at once keep their own histories;
//! - [`racing_writers_win_each_version_once`]: writers racing at `latest + 1` win each
//!   version once, gaplessly;
//! - [`racing_distinct_versions_on_one_actor`]: 8 calls at once append 8 different
//!   versions of one actor; the accepted ones are stored once each, ascending;
//! - [`racing_same_version_has_one_winner`]: 8 calls at once save the same version;
//!   one wins, the others conflict with the stored version as current.
//!
//! Snapshots:
//! [`snapshot_round_trips`], [`latest_snapshot_is_highest_version`],
//! [`snapshots_are_per_actor`], [`snapshot_with_empty_actor_id_is_rejected`].

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::{ActorSnapshot, Event, EventStore, SnapshotStore, StoreError, Timestamp};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fixed timestamp with nanoseconds, so a store that truncates precision fails.
fn timestamp() -> Timestamp {
    Utc.timestamp_opt(1_795_000_000, 123_456_789).unwrap()
}

/// A test event with a fresh id and a small object payload.
pub fn event(actor_id: &str, version: i64) -> Event {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Event {
        id: format!("conformance-{n}"),
        event_type: "Noted".to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: Some(format!("cmd-{n}")),
        version,
        data: json!({ "n": n, "version": version }),
        timestamp: timestamp(),
    }
}

fn snapshot(actor_id: &str, version: i64) -> ActorSnapshot {
    ActorSnapshot {
        actor_id: actor_id.to_owned(),
        version,
        state: json!({ "version": version, "owner": "Ada" }),
        timestamp: timestamp(),
    }
}

/// A fresh actor id, so cases sharing one backend never see each other's data.
fn actor(name: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{n}")
}

fn versions(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.version).collect()
}

#[track_caller]
fn expect_conflict(result: Result<(), StoreError>, actor_id: &str, attempted: i64, current: i64) {
    match result {
        Err(StoreError::VersionConflict(conflict)) => {
            assert_eq!(conflict.actor_id, actor_id, "conflict names the actor");
            assert_eq!(conflict.attempted_version, attempted, "attempted version");
            assert_eq!(conflict.current_version, current, "current version");
        }
        other => panic!(
            "expected a version conflict for {actor_id:?} at {attempted} (current {current}), got {other:?}"
        ),
    }
}

#[track_caller]
fn expect_invalid_input(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidInput { .. }) => {}
        other => panic!("{what}: expected StoreError::InvalidInput, got {other:?}"),
    }
}

async fn save_all<S: EventStore + ?Sized>(
    store: &S,
    actor_id: &str,
    versions: &[i64],
) -> Vec<Event> {
    let events: Vec<Event> = versions.iter().map(|&v| event(actor_id, v)).collect();
    store
        .save_events(&events)
        .await
        .expect("saving a valid batch");
    events
}

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

/// Unknown actor: `get_latest_snapshot` is `None`.
pub async fn unknown_actor_has_no_snapshot<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let snapshot = store.get_latest_snapshot(&actor("nobody")).await.unwrap();
    assert_eq!(snapshot, None, "an unknown actor has no snapshot");
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

/// An empty actor id is refused with an invalid-input error, never a panic.
pub async fn empty_actor_id_is_rejected<S: EventStore + ?Sized>(store: Arc<S>) {
    expect_invalid_input(
        store.save_event(&event("", 1)).await,
        "save_event with empty id",
    );
    expect_invalid_input(
        store.save_events(&[event("", 1), event("", 2)]).await,
        "save_events with empty id",
    );
    for result in [
        store.get_events("", 0).await.map(drop),
        store.get_latest_version("").await.map(drop),
    ] {
        expect_invalid_input(result, "read with empty id");
    }
}

/// Every event of the seed's vectors goes through the store and reads back equal
/// (`data: null`, nanoseconds, `i64::MAX`, unicode, no command id).
pub async fn seed_vectors_round_trip_through_store<S: EventStore + ?Sized>(store: Arc<S>) {
    let suffix = actor("");
    for mut original in super::seed_vectors().events {
        original.actor_id.push_str(&suffix);
        store.save_event(&original).await.unwrap();
        let read = store
            .get_events(&original.actor_id, original.version)
            .await
            .unwrap();
        assert_eq!(
            read,
            vec![original.clone()],
            "seed event {} round trips",
            original.id
        );
        let latest = store.get_latest_version(&original.actor_id).await.unwrap();
        assert_eq!(latest, original.version);
    }
}

/// A 10,000-event history, written in batches, reads back from the middle.
pub async fn long_history_read_from_the_middle<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("long");
    for chunk in (1..=10_000).collect::<Vec<i64>>().chunks(500) {
        save_all(&*store, &id, chunk).await;
    }
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 10_000);
    let tail = store.get_events(&id, 5_001).await.unwrap();
    assert_eq!(versions(&tail), (5_001..=10_000).collect::<Vec<_>>());
    assert!(tail
        .iter()
        .all(|e| e.actor_id == id && e.data["version"] == json!(e.version)));
}

/// 50 actors written concurrently, 20 events each, keep their own histories.
pub async fn fifty_actors_written_concurrently<S: EventStore + ?Sized>(store: Arc<S>) {
    let base = actor("concurrent");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = format!("{base}-{i}");
            tokio::spawn(async move {
                for v in 1..=20 {
                    store.save_event(&event(&id, v)).await.unwrap();
                }
                id
            })
        })
        .collect();
    for task in tasks {
        let id = task.await.expect("writer task");
        let events = store.get_events(&id, 0).await.unwrap();
        assert_eq!(
            versions(&events),
            (1..=20).collect::<Vec<_>>(),
            "history of {id}"
        );
        assert!(events.iter().all(|e| e.actor_id == id));
    }
}

/// Actor ids with characters that backends treat specially are kept apart and intact,
/// including ids that a careless encoding would map to the same key.
pub async fn special_actor_ids_are_kept_apart_and_intact<S: EventStore + ?Sized>(store: Arc<S>) {
    let base = actor("special");
    let suffixes = [
        "",
        ".",
        "a.b",
        "a_b",
        "a-b",
        "a%2Eb",
        "a_2E_b",
        "a.*",
        "*",
        ">",
        "a>b",
        "a/b",
        "a\\b",
        "a b",
        "a  b",
        "a\"b",
        "a'b",
        "'; DROP TABLE events; --",
        "a\tb",
        "a\nb",
        "ünïcødé ✓",
        "日本語",
        "emoji 🦀",
        "A",
        "a",
        "=",
        "a=b",
        "~",
        "$",
        "%",
        "+",
        "a|b",
        "a:b",
        "#",
    ];
    let ids: Vec<String> = suffixes.iter().map(|s| format!("{base}{s}")).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    for (i, id) in ids.iter().enumerate() {
        let mut e = event(id, 1);
        e.data = json!({ "id": id, "index": i });
        store
            .save_event(&e)
            .await
            .unwrap_or_else(|err| panic!("saving for {id:?}: {err}"));
    }
    for (i, id) in ids.iter().enumerate() {
        let events = store.get_events(id, 0).await.unwrap();
        assert_eq!(events.len(), 1, "actor {id:?} has exactly its own event");
        assert_eq!(events[0].actor_id, *id, "actor id intact");
        assert_eq!(events[0].data, json!({ "id": id, "index": i }));
        assert_eq!(store.get_latest_version(id).await.unwrap(), 1);
    }
}

/// 16 writers race to append `latest + 1` to one actor, 25 wins each: every version is
/// won by exactly one writer and the history ends gapless, without duplicates.
pub async fn racing_writers_win_each_version_once<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 16;
    const WINS: usize = 25;
    let id = Arc::new(actor("raced"));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            let id = Arc::clone(&id);
            tokio::spawn(async move {
                let mut won = Vec::new();
                let mut conflicts = 0u64;
                while won.len() < WINS {
                    let latest = store.get_latest_version(&id).await.unwrap();
                    let mut e = event(&id, latest + 1);
                    e.data = json!({ "writer": writer });
                    match store.save_event(&e).await {
                        Ok(()) => won.push((e.version, e.id)),
                        Err(StoreError::VersionConflict(c)) => {
                            assert!(
                                c.current_version >= e.version,
                                "conflict reports a newer current version"
                            );
                            conflicts += 1;
                        }
                        Err(other) => panic!("writer {writer}: unexpected {other}"),
                    }
                    tokio::task::yield_now().await;
                }
                (won, conflicts)
            })
        })
        .collect();
    let mut claimed = BTreeSet::new();
    let mut by_version = std::collections::HashMap::new();
    for task in tasks {
        let (won, _conflicts) = task.await.expect("writer task");
        for (version, event_id) in won {
            assert!(
                claimed.insert(version),
                "version {version} acknowledged to two writers"
            );
            by_version.insert(version, event_id);
        }
    }
    let total = (WRITERS * WINS) as i64;
    assert_eq!(
        claimed,
        (1..=total).collect::<BTreeSet<_>>(),
        "acknowledged versions are gapless"
    );
    let stored = store.get_events(&id, 0).await.unwrap();
    assert_eq!(
        versions(&stored),
        (1..=total).collect::<Vec<_>>(),
        "stored history is gapless"
    );
    for e in stored {
        assert_eq!(
            by_version[&e.version], e.id,
            "version {} holds its winner's event",
            e.version
        );
    }
}

/// One actor at version `v`; 8 tasks at once append `v+1 ..= v+8`, one version each, for
/// 20 rounds. Every call returns (success or [`StoreError::VersionConflict`], nothing
/// else); a refused call's conflict reports a current version at or above the attempted
/// one; at least one call of each round wins; the history holds each accepted version
/// once, its winner's event, strictly ascending; the latest version is the highest
/// accepted.
pub async fn racing_distinct_versions_on_one_actor<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: i64 = 8;
    const ROUNDS: usize = 20;
    let id = Arc::new(actor("crowded"));
    let first = event(&id, 1);
    store.save_event(&first).await.unwrap();
    let mut accepted = vec![first];
    let mut latest = 1;
    for round in 1..=ROUNDS {
        let tasks: Vec<_> = (latest + 1..=latest + WRITERS)
            .map(|version| {
                let store = Arc::clone(&store);
                let e = event(&id, version);
                tokio::spawn(async move {
                    let result = store.save_event(&e).await;
                    (e, result)
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (e, result) = task.await.expect("appending task");
            match result {
                Ok(()) => won.push(e),
                Err(StoreError::VersionConflict(c)) => {
                    assert_eq!(c.actor_id, *id, "round {round}: conflict names the actor");
                    assert_eq!(c.attempted_version, e.version, "round {round}: attempted");
                    assert!(
                        c.current_version >= e.version,
                        "round {round}: the conflict at version {} reports current version {}",
                        e.version,
                        c.current_version
                    );
                }
                Err(other) => panic!("round {round}: version {}: unexpected {other}", e.version),
            }
        }
        let highest = won
            .last()
            .unwrap_or_else(|| panic!("round {round}: no append above version {latest} won"))
            .version;
        accepted.extend(won);
        latest = store.get_latest_version(&id).await.unwrap();
        assert_eq!(
            latest, highest,
            "round {round}: latest is the highest accepted"
        );
    }
    let stored = store.get_events(&id, 0).await.unwrap();
    assert!(
        stored.windows(2).all(|w| w[0].version < w[1].version),
        "history strictly ascends: {:?}",
        versions(&stored)
    );
    assert_eq!(
        versions(&stored),
        versions(&accepted),
        "the history holds exactly the accepted versions"
    );
    assert_eq!(stored, accepted, "each version holds its winner's event");
}

/// 8 tasks at once save the same next version of one actor, for 20 rounds: exactly one
/// wins; every other gets [`StoreError::VersionConflict`] whose current version is the
/// stored latest (at or above the attempted version, never below); the stored event is
/// the winner's.
pub async fn racing_same_version_has_one_winner<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 8;
    const ROUNDS: i64 = 20;
    let id = Arc::new(actor("contested"));
    for version in 1..=ROUNDS {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                let mut e = event(&id, version);
                e.data = json!({ "writer": writer, "version": version });
                tokio::spawn(async move {
                    let result = store.save_event(&e).await;
                    (e, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            let (e, result) = task.await.expect("saving task");
            match result {
                Ok(()) => winners.push(e),
                Err(StoreError::VersionConflict(c)) => conflicts.push(c),
                Err(other) => panic!("version {version}: unexpected {other}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "version {version}: exactly one of {WRITERS} racing saves wins"
        );
        let stored_latest = store.get_latest_version(&id).await.unwrap();
        assert_eq!(stored_latest, version, "version {version}: latest");
        for c in conflicts {
            assert_eq!(
                c.actor_id, *id,
                "version {version}: conflict names the actor"
            );
            assert_eq!(c.attempted_version, version, "version {version}: attempted");
            assert_eq!(
                c.current_version, stored_latest,
                "version {version}: a loser's conflict reports the stored version"
            );
        }
        assert_eq!(
            store.get_events(&id, version).await.unwrap(),
            winners,
            "version {version} holds the winner's event"
        );
    }
}

/// A saved snapshot reads back equal.
pub async fn snapshot_round_trips<S: SnapshotStore + ?Sized>(store: Arc<S>) {
    let id = actor("account");
    let mut snap = snapshot(&id, 7);
    snap.state = json!({ "balance": 69.5, "owner": "Ada", "tags": ["a"], "none": null });
    store.save_snapshot(&snap).await.unwrap();
    assert_eq!(store.get_latest_snapshot(&id).await.unwrap(), Some(snap));
    let seed = super::seed_vectors().snapshots.remove(0);
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
