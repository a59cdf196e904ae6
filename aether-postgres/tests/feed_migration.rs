//! A schema written by layout 1 (before the feed) is migrated to layout 2: its events get
//! feed positions that keep each actor's versions in order, and later appends come after
//! them.

mod common;

use std::time::Duration;

use aether_core::{CheckpointStore, EventFeed, EventStore, FeedFilter, Position};
use aether_postgres::PostgresStore;
use serde_json::json;

/// The layout-1 tables, as aether-postgres 0.1 with `SCHEMA_VERSION` 1 made them.
const V1_DDL: &str = r#"
    CREATE TABLE {s}.schema_version (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        version   integer NOT NULL
    );
    INSERT INTO {s}.schema_version (version) VALUES (1);
    CREATE TABLE {s}.actors (
        actor_id        text   PRIMARY KEY,
        latest_version  bigint NOT NULL CHECK (latest_version > 0),
        latest_batch_first_version bigint NOT NULL
    );
    CREATE TABLE {s}.events (
        actor_id        text        NOT NULL,
        version         bigint      NOT NULL CHECK (version > 0),
        event_id        text        NOT NULL,
        event_type      text        NOT NULL,
        command_id      text,
        data            jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL,
        recorded_nanos  integer     NOT NULL,
        PRIMARY KEY (actor_id, version)
    );
    CREATE TABLE {s}.snapshots (
        actor_id        text        PRIMARY KEY,
        version         bigint      NOT NULL,
        state           jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL,
        recorded_nanos  integer     NOT NULL
    );
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_events_are_fed_in_per_actor_version_order_before_new_ones() {
    let schema = common::unique_name("aether_test");
    let admin = match tokio_postgres::connect(&common::url(), tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => return common::unreachable("raw connect", err).unwrap_or(()),
    };
    let quoted = format!("\"{schema}\"");
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {quoted}; {}",
            V1_DDL.replace("{s}", &quoted)
        ))
        .await
        .expect("the layout-1 schema");
    // Timestamps (seconds) deliberately out of version order for X: its version 2 is
    // older than its version 1. Ranked by time: Y1(10) X2(20) X1(30) Y2(40) X3(50); X
    // holds ranks 2, 3, 5 and Y ranks 1, 4, so the feed is Y1 X1 X2 Y2 X3.
    let rows = [
        ("Acc|x", 1, 30),
        ("Acc|x", 2, 20),
        ("Acc|x", 3, 50),
        ("Acc|y", 1, 10),
        ("Acc|y", 2, 40),
    ];
    for (actor, version, secs) in rows {
        admin
            .execute(
                &format!(
                    "INSERT INTO {quoted}.events (actor_id, version, event_id, event_type, \
                     command_id, data, recorded_at, recorded_nanos) VALUES ($1, $2, $3, \
                     'Old', NULL, '{{}}', to_timestamp($4), 0)"
                ),
                &[
                    &actor,
                    &(version as i64),
                    &format!("{actor}@{version}"),
                    &(secs as f64),
                ],
            )
            .await
            .expect("a layout-1 event");
    }
    admin
        .batch_execute(&format!(
            "INSERT INTO {quoted}.actors VALUES ('Acc|x', 3, 3), ('Acc|y', 2, 2)"
        ))
        .await
        .expect("layout-1 actors");
    let _cleanup = Cleanup(schema.clone());

    let store = PostgresStore::builder(common::url())
        .schema(schema.clone())
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connecting migrates the schema");
    let version: i32 = admin
        .query_one(&format!("SELECT version FROM {quoted}.schema_version"), &[])
        .await
        .expect("version row")
        .get(0);
    assert_eq!(i64::from(version), aether_postgres::SCHEMA_VERSION);

    let old = store
        .read_feed(Position::START, &FeedFilter::all(), 100)
        .await
        .expect("reading the migrated feed");
    let ids: Vec<&str> = old.events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["Acc|y@1", "Acc|x@1", "Acc|x@2", "Acc|y@2", "Acc|x@3"]);
    assert_eq!(
        old.events[1].event,
        store.get_events("Acc|x", 1).await.expect("get_events")[0],
        "fed as stored"
    );

    // Appends after the migration come after every migrated event.
    store
        .save_event(&common::event("Acc|x", 4, json!({})))
        .await
        .expect("append to a migrated actor");
    store
        .save_event(&common::event("Acc|z", 1, json!({})))
        .await
        .expect("append to a new actor");
    let new = store
        .read_feed(old.next, &FeedFilter::all(), 100)
        .await
        .expect("reading on");
    let ids: Vec<&str> = new.events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["Acc|x@4", "Acc|z@1"]);
    assert!(new.events[0].position > old.events[4].position);
    let all = store
        .read_feed(Position::START, &FeedFilter::all(), 100)
        .await
        .expect("the whole feed");
    assert_eq!(all.events.len(), 7);

    // The checkpoint table exists.
    store
        .save_checkpoint("migrated", all.next)
        .await
        .expect("checkpoint");
    assert_eq!(
        store.load_checkpoint("migrated").await.expect("load"),
        Some(all.next)
    );
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::drop_schema_blocking(&self.0);
    }
}
