//! The seed's JSON vectors (written by the Go seed) read and write back unchanged.

use aether_core::{ActorSnapshot, Event, VersionConflictError};
use chrono::DateTime;
use serde_json::Value;

const SEED_JSON: &str = include_str!("data/seed-json.json");

fn vectors() -> Value {
    serde_json::from_str(SEED_JSON).unwrap()
}

/// Equal as JSON values, except that timestamps compare as instants.
fn assert_same(original: &Value, written: &Value) {
    let (Value::Object(a), Value::Object(b)) = (original, written) else {
        panic!("not objects: {original} / {written}");
    };
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same keys (serde_json sorts them)"
    );
    for (key, value) in a {
        if key == "timestamp" {
            let parse = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
            assert_eq!(
                parse(value),
                parse(&b[key]),
                "timestamp is the same instant"
            );
        } else {
            assert_eq!(value, &b[key], "field {key}");
        }
    }
}

#[test]
fn every_seed_event_round_trips() {
    let all = vectors();
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    for original in events {
        let event: Event = serde_json::from_value(original.clone()).unwrap();
        let written = serde_json::to_value(&event).unwrap();
        assert_same(original, &written);
        let again: Event = serde_json::from_value(written).unwrap();
        assert_eq!(again, event);
    }
}

#[test]
fn seed_event_fields_are_read_exactly() {
    let events: Vec<Event> = serde_json::from_value(vectors()["events"].clone()).unwrap();
    assert_eq!(events[0].command_id.as_deref(), Some("cmd-42"));
    assert_eq!(events[0].timestamp.timestamp_subsec_nanos(), 123_456_789);
    assert_eq!(events[1].command_id, None);
    assert_eq!(
        events[1].timestamp.to_rfc3339(),
        "2026-01-02T01:04:05+00:00"
    );
    assert_eq!(events[2].version, i64::MAX);
    assert_eq!(events[2].data, serde_json::json!({}));
    assert_eq!(events[3].data, Value::Null, "data: null is kept as null");
}

#[test]
fn command_id_is_omitted_when_none() {
    let events: Vec<Event> = serde_json::from_value(vectors()["events"].clone()).unwrap();
    let written = serde_json::to_value(&events[1]).unwrap();
    assert!(written.get("commandId").is_none());
    let written = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(written["commandId"], "cmd-42");
}

#[test]
fn every_seed_snapshot_round_trips() {
    let all = vectors();
    for original in all["snapshots"].as_array().unwrap() {
        let snapshot: ActorSnapshot = serde_json::from_value(original.clone()).unwrap();
        assert_same(original, &serde_json::to_value(&snapshot).unwrap());
    }
}

#[test]
fn version_conflict_prints_the_seeds_text() {
    let err = VersionConflictError {
        actor_id: "account-1".into(),
        attempted_version: 2,
        current_version: 5,
    };
    assert_eq!(
        err.to_string(),
        vectors()["versionConflictMessage"].as_str().unwrap()
    );
}

#[test]
fn version_conflict_error_serializes_with_camel_case() {
    let err = VersionConflictError {
        actor_id: "a".into(),
        attempted_version: 1,
        current_version: 2,
    };
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"actorId": "a", "attemptedVersion": 1, "currentVersion": 2})
    );
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for bad in [
        "{}",
        r#"{"id":1}"#,
        r#"{"id":"x","eventType":"T","actorId":"a","version":"1","data":{},"timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"id":"x","eventType":"T","actorId":"a","version":1,"data":{},"timestamp":"yesterday"}"#,
        "[",
    ] {
        assert!(serde_json::from_str::<Event>(bad).is_err(), "{bad}");
    }
}
