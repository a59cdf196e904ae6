//! The SQLite feed beyond the conformance suite: wake-ups in-process (at once) and from
//! another store on the file (by polling), the scan window of filtered reads,
//! undecodable rows, positions past the end, and a schema-v1 file migrated and fed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aether_core::{CheckpointStore, EventFeed, EventStore, FeedError, FeedFilter, Position};
use aether_sqlite::{SqliteStore, SCHEMA_VERSION};
use common::{event, TempStore};
use rusqlite::Connection;

/// A guard against hangs only: every wait below is on an event, never on time.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_wakes_a_waiting_reader_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    // A poll interval far beyond the hang guard: only the writer's signal can wake.
    let store = Arc::new(
        SqliteStore::builder(dir.path().join("events.db"))
            .feed_poll_interval(Duration::from_secs(3600))
            .open()
            .await
            .unwrap(),
    );
    assert_eq!(store.feed_poll_interval(), Duration::from_secs(3600));
    store.save_event(&event("Account|1", 1)).await.unwrap();
    let head = store.feed_head().await.unwrap();
    assert_eq!(head, Position::new(1, 0));
    // Nothing after the head: the wait does not return by itself.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), store.wait_for_events(head))
            .await
            .is_err(),
        "a wait at the head returned with nothing new"
    );
    let waiter = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.wait_for_events(head).await })
    };
    store.save_event(&event("Account|1", 2)).await.unwrap();
    tokio::time::timeout(HANG, waiter)
        .await
        .expect("the append did not wake the waiting reader")
        .unwrap()
        .unwrap();
    let page = store.read_feed(head, &FeedFilter::all(), 10).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_of_another_store_on_the_file_are_seen_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let writer = SqliteStore::open(&path).await.unwrap();
    let reader = Arc::new(
        SqliteStore::builder(&path)
            .feed_poll_interval(Duration::from_millis(20))
            .open()
            .await
            .unwrap(),
    );
    let tail = {
        let reader = Arc::clone(&reader);
        tokio::spawn(async move {
            let mut after = Position::START;
            let mut seen = Vec::new();
            while seen.len() < 3 {
                reader.wait_for_events(after).await.unwrap();
                let page = reader
                    .read_feed(after, &FeedFilter::all(), 10)
                    .await
                    .unwrap();
                after = page.next;
                seen.extend(page.events.into_iter().map(|e| e.event.version));
            }
            seen
        })
    };
    for v in 1..=3 {
        writer.save_event(&event("Account|x", v)).await.unwrap();
    }
    let seen = tokio::time::timeout(HANG, tail)
        .await
        .expect("the other store's appends were never seen")
        .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    // A read that saw the other store's commits also raised what waiters know: a wait
    // before them returns at once, however long the poll interval.
    tokio::time::timeout(HANG, reader.wait_for_events(Position::new(2, 0)))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_read_moves_past_a_long_run_of_other_events_in_windows() {
    let store = TempStore::new().await;
    // 12,000 events the filter leaves out, then one it wants.
    let batch: Vec<_> = (1..=12_000).map(|v| event("Bulk|1", v)).collect();
    store.save_events(&batch).await.unwrap();
    store.save_event(&event("Rare|1", 1)).await.unwrap();
    let filter = FeedFilter::all().actor_type("Rare");
    let first = store.read_feed(Position::START, &filter, 10).await.unwrap();
    assert!(first.events.is_empty(), "{:?}", first.events.len());
    assert!(
        first.next > Position::START && first.next < Position::new(12_001, 0),
        "one read looks at a window, not the whole feed: next {}",
        first.next
    );
    let second = store.read_feed(first.next, &filter, 10).await.unwrap();
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].event.actor_id, "Rare|1");
    assert_eq!(second.events[0].position, Position::new(12_001, 0));
    assert_eq!(second.next, Position::new(12_001, 0));
    assert_eq!(store.feed_lag(Position::START).await.unwrap(), 12_001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_past_the_end_read_nothing_and_lag_nothing() {
    let store = TempStore::new().await;
    store.save_event(&event("Account|1", 1)).await.unwrap();
    for after in [Position::new(2, 0), Position::new(u64::MAX, u64::MAX)] {
        let page = store
            .read_feed(after, &FeedFilter::all(), 10)
            .await
            .unwrap();
        assert!(page.events.is_empty());
        assert_eq!(page.next, after);
        assert_eq!(store.feed_lag(after).await.unwrap(), 0);
    }
    // A position inside event 1 (index > 0) reads what comes after event 1.
    store.save_event(&event("Account|1", 2)).await.unwrap();
    let page = store
        .read_feed(Position::new(1, 5), &FeedFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_rows_fail_the_read_naming_position_actor_and_version() {
    let store = TempStore::new().await;
    let path = store.store.path().to_owned();
    store.save_event(&event("Account|ok", 1)).await.unwrap();
    store.save_event(&event("Account|bad", 1)).await.unwrap();
    store.save_event(&event("Account|orphan", 1)).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.busy_timeout(HANG).unwrap();
    conn.execute("UPDATE events SET data = '{\"x\": ' WHERE seq = 2", [])
        .unwrap();
    // The actor row of event 3 is gone: the event must not vanish from the feed.
    conn.execute("DELETE FROM actors WHERE actor_id = 'Account|orphan'", [])
        .unwrap();
    drop(conn);

    let first = store
        .read_feed(Position::START, &FeedFilter::all(), 1)
        .await
        .unwrap();
    assert_eq!(first.events[0].event.actor_id, "Account|ok");
    match store.read_feed(first.next, &FeedFilter::all(), 10).await {
        Err(FeedError::Serialization {
            position,
            actor_id,
            version,
            reason,
        }) => {
            assert_eq!(position, Position::new(2, 0));
            assert_eq!(actor_id, "Account|bad");
            assert_eq!(version, 1);
            assert!(reason.contains("data"), "{reason}");
        }
        other => panic!("expected a serialization error at 2:0, got {other:?}"),
    }
    match store
        .read_feed(Position::new(2, 0), &FeedFilter::all(), 10)
        .await
    {
        Err(err @ FeedError::Serialization { .. }) => {
            let FeedError::Serialization { position, .. } = &err else {
                unreachable!()
            };
            assert_eq!(*position, Position::new(3, 0));
            assert!(err.to_string().contains("no actor id"), "{err}");
            assert!(!err.is_transient());
        }
        other => panic!("expected a serialization error at 3:0, got {other:?}"),
    }
}

/// The v1 schema as the released crate wrote it (`git show c2b8ba0:aether-sqlite/src/schema.rs`).
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS actors (
    actor_key      INTEGER PRIMARY KEY,
    actor_id       TEXT    NOT NULL UNIQUE,
    latest_version INTEGER NOT NULL DEFAULT 0,
    latest_seq     INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    actor_key  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    prev_seq   INTEGER,
    id         TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    command_id TEXT,
    data       TEXT    NOT NULL,
    ts_secs    INTEGER NOT NULL,
    ts_nanos   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    actor_key INTEGER PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    ts_secs   INTEGER NOT NULL,
    ts_nanos  INTEGER NOT NULL
);
PRAGMA journal_mode = WAL;
PRAGMA application_id = 1095062600;
PRAGMA user_version = 1;
";

/// Writes a version-1 file with raw SQL, as v1 stored appends: an actor row, events
/// chained by prev_seq, the actor's latest version and seq.
fn write_v1_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(SCHEMA_V1).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for (key, actor, count) in [(1, "Account|old", 3), (2, "Order|old", 2)] {
        tx.execute(
            "INSERT INTO actors (actor_key, actor_id, latest_version) VALUES (?1, ?2, 0)",
            rusqlite::params![key, actor],
        )
        .unwrap();
        let mut prev: Option<i64> = None;
        for v in 1..=count {
            tx.execute(
                "INSERT INTO events (actor_key, version, prev_seq, id, event_type, command_id, \
                 data, ts_secs, ts_nanos) VALUES (?1, ?2, ?3, ?4, 'Noted', NULL, ?5, \
                 1700000000, 5)",
                rusqlite::params![
                    key,
                    v,
                    prev,
                    format!("{actor}-{v}"),
                    format!("{{\"version\":{v}}}")
                ],
            )
            .unwrap();
            prev = Some(tx.last_insert_rowid());
        }
        tx.execute(
            "UPDATE actors SET latest_version = ?2, latest_seq = ?3 WHERE actor_key = ?1",
            rusqlite::params![key, count, prev],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_is_migrated_and_fed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    write_v1_file(&path);

    let store = SqliteStore::open(&path).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 2);
    drop(conn);

    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 100)
        .await
        .unwrap();
    let fed: Vec<(u64, String, i64)> = page
        .events
        .iter()
        .map(|e| {
            (
                e.position.commit(),
                e.event.actor_id.clone(),
                e.event.version,
            )
        })
        .collect();
    assert_eq!(
        fed,
        vec![
            (1, "Account|old".to_owned(), 1),
            (2, "Account|old".to_owned(), 2),
            (3, "Account|old".to_owned(), 3),
            (4, "Order|old".to_owned(), 1),
            (5, "Order|old".to_owned(), 2),
        ]
    );
    assert_eq!(
        page.events[0].event.data,
        serde_json::json!({ "version": 1 })
    );
    assert_eq!(page.events[0].event.timestamp.timestamp(), 1_700_000_000);
    assert_eq!(store.feed_head().await.unwrap(), Position::new(5, 0));

    // The migrated file takes checkpoints and new events, which come after the old ones.
    store
        .save_checkpoint("balances", Position::new(5, 0))
        .await
        .unwrap();
    store.save_event(&event("Account|old", 4)).await.unwrap();
    let next = store
        .read_feed(
            Position::new(5, 0),
            &FeedFilter::all().actor_type("Account"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(next.events.len(), 1);
    assert_eq!(next.events[0].position, Position::new(6, 0));
    assert_eq!(store.get_events("Account|old", 0).await.unwrap().len(), 4);
    store.close().await.unwrap();

    // Opening again does not migrate twice; the checkpoint is there.
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.load_checkpoint("balances").await.unwrap(),
        Some(Position::new(5, 0))
    );
    assert_eq!(store.feed_lag(Position::START).await.unwrap(), 6);
}

/// A long page parses its events' JSON on two threads: the error reported is still the
/// first bad row in feed order, whichever half it is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_page_reports_its_first_undecodable_row() {
    let store = TempStore::new().await;
    let path = store.store.path().to_owned();
    let events: Vec<_> = (1..=600).map(|v| event("Account|long", v)).collect();
    store.save_events(&events).await.unwrap();
    let all = store
        .read_feed(Position::START, &FeedFilter::all(), 1_000)
        .await
        .unwrap();
    assert_eq!(all.events.len(), 600);
    assert_eq!(
        all.events[599].event.data, events[599].data,
        "parsed on either thread"
    );
    let conn = Connection::open(&path).unwrap();
    conn.busy_timeout(HANG).unwrap();
    let corrupt = |seq: i64| {
        conn.execute("UPDATE events SET data = 'not json' WHERE seq = ?1", [seq])
            .unwrap();
    };
    let failing_at = |result: Result<aether_core::FeedPage, FeedError>| match result {
        Err(FeedError::Serialization { position, .. }) => position,
        other => panic!("expected a serialization error, got {other:?}"),
    };
    corrupt(450); // in the second half of a 600-event page
    let at = failing_at(
        store
            .read_feed(Position::START, &FeedFilter::all(), 1_000)
            .await,
    );
    assert_eq!(at, Position::new(450, 0));
    corrupt(120); // now one in the first half too: it comes first
    let at = failing_at(
        store
            .read_feed(Position::START, &FeedFilter::all(), 1_000)
            .await,
    );
    assert_eq!(at, Position::new(120, 0));
}
