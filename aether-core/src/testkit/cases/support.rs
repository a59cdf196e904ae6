//! What the cases share: events and snapshots to save, checks of the errors.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::{ActorSnapshot, Event, EventStore, StoreError, Timestamp, MAX_PAYLOAD_DEPTH};

pub(super) static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fixed timestamp with nanoseconds, so a store that truncates precision fails.
pub(super) fn timestamp() -> Timestamp {
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

pub(super) fn snapshot(actor_id: &str, version: i64) -> ActorSnapshot {
    ActorSnapshot {
        actor_id: actor_id.to_owned(),
        version,
        state: json!({ "version": version, "owner": "Ada" }),
        timestamp: timestamp(),
    }
}

/// Data that nests arrays and objects exactly `depth` levels deep (`depth` >= 3): a deep
/// branch of alternating objects and arrays with scalars beside, and a shallow branch.
pub(super) fn nested(depth: usize) -> serde_json::Value {
    assert!(depth >= 3, "nested() makes data at least 3 levels deep");
    let deep = (1..depth).fold(json!("leaf"), |inner, level| {
        if level % 2 == 0 {
            json!([level, inner, "x"])
        } else {
            json!({ "level": level, "inner": inner })
        }
    });
    let data = json!({ "deep": deep, "shallow": { "list": [1, 2] }, "depth": depth });
    assert_eq!(
        crate::json_depth(&data),
        depth,
        "nested({depth}) is {depth} deep"
    );
    data
}

/// A fresh actor id, so cases sharing one backend never see each other's data.
pub(super) fn actor(name: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{n}")
}

pub(super) fn versions(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.version).collect()
}

#[track_caller]
pub(super) fn expect_conflict(
    result: Result<(), StoreError>,
    actor_id: &str,
    attempted: i64,
    current: i64,
) {
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
pub(super) fn expect_invalid_input(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidInput { .. }) => {}
        other => panic!("{what}: expected StoreError::InvalidInput, got {other:?}"),
    }
}

/// Expects the refusal of data nested deeper than [`MAX_PAYLOAD_DEPTH`]: invalid input
/// naming the actor and the version, its reason saying the limit.
#[track_caller]
pub(super) fn expect_too_deep(result: Result<(), StoreError>, actor_id: &str, version: i64) {
    match result {
        Err(StoreError::InvalidInput {
            actor_id: named,
            version: at,
            reason,
        }) => {
            assert_eq!(named, actor_id, "the refusal of deep data names the actor");
            assert_eq!(at, version, "the refusal of deep data names the version");
            assert!(
                reason.contains(&MAX_PAYLOAD_DEPTH.to_string()),
                "the refusal of deep data says the limit ({MAX_PAYLOAD_DEPTH}): {reason:?}"
            );
        }
        other => panic!(
            "data nested deeper than {MAX_PAYLOAD_DEPTH} levels for {actor_id:?} at {version}: \
             expected StoreError::InvalidInput, got {other:?}"
        ),
    }
}

pub(super) async fn save_all<S: EventStore + ?Sized>(
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
