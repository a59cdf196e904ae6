//! Input PostgreSQL cannot store, and stored rows that cannot be decoded: clear errors
//! naming actor and version, never a panic, nothing stored.

mod common;

use aether_core::{ActorSnapshot, EventStore, SnapshotStore, StoreError};
use chrono::{TimeZone, Utc};
use serde_json::json;

#[track_caller]
fn expect_invalid(result: Result<(), StoreError>, actor: &str, version: i64, what: &str) {
    match result {
        Err(err @ StoreError::InvalidInput { .. }) => {
            assert_eq!(err.actor_id(), actor, "{what}: names the actor");
            assert_eq!(err.version(), version, "{what}: names the version");
            let text = err.to_string();
            assert!(text.contains(&format!("{actor:?}")), "{what}: {text}");
            assert!(text.contains(&version.to_string()), "{what}: {text}");
        }
        other => panic!("{what}: expected InvalidInput, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_are_refused_naming_actor_and_version() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let store = &test.store;
    let bad_actor = "bad\0actor";
    expect_invalid(
        store
            .save_event(&common::event(bad_actor, 3, json!({})))
            .await,
        bad_actor,
        3,
        "NUL in actor id",
    );
    expect_invalid(
        store.get_events(bad_actor, 2).await.map(drop),
        bad_actor,
        2,
        "read with NUL in actor id",
    );
    expect_invalid(
        store.get_latest_version(bad_actor).await.map(drop),
        bad_actor,
        0,
        "latest version with NUL in actor id",
    );
    expect_invalid(
        store.get_latest_snapshot(bad_actor).await.map(drop),
        bad_actor,
        0,
        "snapshot with NUL in actor id",
    );

    let actor = "fine-actor";
    let mut event = common::event(actor, 1, json!({}));
    event.event_type = "Bad\0Type".into();
    expect_invalid(
        store.save_event(&event).await,
        actor,
        1,
        "NUL in event type",
    );
    let mut event = common::event(actor, 1, json!({}));
    event.command_id = Some("\0".into());
    expect_invalid(
        store.save_event(&event).await,
        actor,
        1,
        "NUL in command id",
    );

    // The second event of a batch is bad: the whole batch is refused.
    let batch = [
        common::event(actor, 1, json!({ "ok": true })),
        common::event(actor, 2, json!({ "nested": ["x\u{0}y"] })),
    ];
    expect_invalid(store.save_events(&batch).await, actor, 2, "\\u0000 in data");
    let snapshot = ActorSnapshot {
        actor_id: actor.into(),
        version: 4,
        state: json!({ "k\u{0}": 1 }),
        timestamp: Utc::now(),
    };
    expect_invalid(
        store.save_snapshot(&snapshot).await,
        actor,
        4,
        "\\u0000 in state",
    );

    let mut ancient = common::event(actor, 1, json!({}));
    ancient.timestamp = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap();
    expect_invalid(store.save_event(&ancient).await, actor, 1, "year 5001 BC");

    assert!(
        store.get_events(actor, 0).await.unwrap().is_empty(),
        "nothing stored"
    );
    assert_eq!(store.get_latest_version(actor).await.unwrap(), 0);
    assert_eq!(store.get_latest_snapshot(actor).await.unwrap(), None);

    // A backslash-zero that is text, not a NUL, is fine.
    let mut fine = common::event(actor, 1, json!({ "s": "\\u0000 and \\0" }));
    fine.event_type = "\\0".into();
    store.save_event(&fine).await.unwrap();
    assert_eq!(store.get_events(actor, 0).await.unwrap(), vec![fine]);
}

#[track_caller]
fn expect_serialization<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    actor: &str,
    version: i64,
) {
    match result {
        Err(err @ StoreError::Serialization { .. }) => {
            assert_eq!(err.actor_id(), actor);
            assert_eq!(err.version(), version);
            let text = err.to_string();
            assert!(
                text.contains(actor) && text.contains(&version.to_string()),
                "{text}"
            );
        }
        other => panic!("expected Serialization for {actor} at {version}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_rows_are_serialization_errors_naming_actor_and_version() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let store = &test.store;
    let schema = format!("\"{}\"", test.schema);
    let actor = "corrupted";
    store
        .save_events(&[
            common::event(actor, 1, json!({})),
            common::event(actor, 2, json!({})),
            common::event(actor, 3, json!({})),
        ])
        .await
        .unwrap();
    store
        .save_snapshot(&ActorSnapshot {
            actor_id: actor.into(),
            version: 5,
            state: json!({}),
            timestamp: Utc::now(),
        })
        .await
        .unwrap();
    let admin = common::raw_client().await;

    // A sub-second part no timestamp has.
    admin
        .execute(
            &format!("UPDATE {schema}.events SET recorded_nanos = -1 WHERE actor_id = $1 AND version = 2"),
            &[&actor],
        )
        .await
        .unwrap();
    expect_serialization(store.get_events(actor, 0).await, actor, 2);
    assert_eq!(
        store.get_events(actor, 3).await.unwrap().len(),
        1,
        "other rows still read"
    );
    admin
        .execute(
            &format!(
                "UPDATE {schema}.snapshots SET recorded_nanos = 2000000000 WHERE actor_id = $1"
            ),
            &[&actor],
        )
        .await
        .unwrap();
    expect_serialization(store.get_latest_snapshot(actor).await, actor, 5);

    // A column of the wrong type, as a foreign or botched migration could leave.
    admin
        .batch_execute(&format!(
            "ALTER TABLE {schema}.events ALTER COLUMN event_type TYPE integer USING 7"
        ))
        .await
        .unwrap();
    expect_serialization(store.get_events(actor, 3).await, actor, 3);
}
