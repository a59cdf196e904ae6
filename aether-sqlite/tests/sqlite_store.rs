//! Behaviour of the SQLite store beyond the conformance suite: group commit, reads that
//! do not wait for the writer, undecodable rows, schema versions, several stores on one
//! file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, SnapshotStore, StoreError};
use aether_sqlite::{CloseError, OpenError, SqliteStore, Synchronous, SCHEMA_VERSION};
use common::{event, TempStore};
use rusqlite::Connection;

/// A guard against hangs only: every wait below is on an event, never on time.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_transactions() {
    const WRITERS: usize = 200;
    const EACH: i64 = 10;
    let store = Arc::new(TempStore::new().await);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("writer-{w}");
                for v in 1..=EACH {
                    store.save_event(&event(&id, v)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.store.stats();
    let appends = WRITERS as u64 * EACH as u64;
    assert_eq!(stats.appends, appends);
    assert_eq!(stats.events, appends);
    assert!(
        stats.transactions * 10 <= appends,
        "group commit: {} transactions for {} appends",
        stats.transactions,
        appends
    );
    for w in [0, WRITERS - 1] {
        let id = format!("writer-{w}");
        assert_eq!(store.get_latest_version(&id).await.unwrap(), EACH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_batch_fails_alone_in_its_group() {
    let store = Arc::new(TempStore::new().await);
    store.save_event(&event("shared", 1)).await.unwrap();
    // Hold the writer so that everything below lands in one group.
    let hold = store.store.hold_writer().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let id = format!("other-{i}");
            store
                .save_events(&[event(&id, 1), event(&id, 2)])
                .await
                .map(|()| id)
        }));
    }
    let conflicting = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .save_events(&[event("shared", 1), event("shared", 2)])
                .await
        })
    };
    let transactions_before = store.store.stats().transactions;
    drop(hold);
    let err = tokio::time::timeout(HANG, conflicting)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let conflict = err.as_version_conflict().expect("a version conflict");
    assert_eq!(
        (
            conflict.actor_id.as_str(),
            conflict.attempted_version,
            conflict.current_version
        ),
        ("shared", 1, 1)
    );
    for task in tasks {
        let id = task.await.unwrap().expect("the other batches commit");
        assert_eq!(store.get_latest_version(&id).await.unwrap(), 2);
    }
    assert_eq!(store.get_latest_version("shared").await.unwrap(), 1);
    assert_eq!(store.get_events("shared", 0).await.unwrap().len(), 1);
    let stats = store.store.stats();
    assert_eq!(stats.conflicts, 1);
    assert!(stats.transactions - transactions_before < 21, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_a_busy_writer() {
    let store = Arc::new(TempStore::new().await);
    store.save_event(&event("account", 1)).await.unwrap();
    store
        .save_snapshot(&aether_core::ActorSnapshot {
            actor_id: "account".into(),
            version: 1,
            state: serde_json::json!({}),
            timestamp: chrono::Utc::now(),
        })
        .await
        .unwrap();

    // The writer thread sits in an open write transaction until `hold` is dropped.
    let hold = store.store.hold_writer().await;
    let pending = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.save_event(&event("account", 2)).await })
    };
    for _ in 0..50 {
        let events = tokio::time::timeout(HANG, store.get_events("account", 0))
            .await
            .expect("a read finished while the writer was busy")
            .unwrap();
        assert_eq!(events.len(), 1);
        let latest = tokio::time::timeout(HANG, store.get_latest_version("account"))
            .await
            .expect("a read finished while the writer was busy")
            .unwrap();
        assert_eq!(latest, 1);
        let snapshot = tokio::time::timeout(HANG, store.get_latest_snapshot("account"))
            .await
            .expect("a read finished while the writer was busy")
            .unwrap();
        assert_eq!(snapshot.map(|s| s.version), Some(1));
    }
    assert!(!pending.is_finished(), "the append waits for the writer");
    drop(hold);
    tokio::time::timeout(HANG, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(store.get_latest_version("account").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_another_connection_holding_the_write_lock() {
    let store = TempStore::new().await;
    store.save_event(&event("account", 1)).await.unwrap();
    // Another connection (as another process would) holds the write lock with an
    // uncommitted change.
    let other = Connection::open(store.store.path()).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE actors SET latest_version = 99;")
        .unwrap();
    let latest = tokio::time::timeout(HANG, store.get_latest_version("account"))
        .await
        .expect("the read did not wait")
        .unwrap();
    assert_eq!(latest, 1, "uncommitted changes are not seen");
    let events = tokio::time::timeout(HANG, store.get_events("account", 0))
        .await
        .expect("the read did not wait")
        .unwrap();
    assert_eq!(events.len(), 1);
    other.execute_batch("ROLLBACK").unwrap();
}

/// Finds the actor's row of `version` and runs `sql` on it with a raw connection.
fn corrupt(path: &std::path::Path, actor_id: &str, version: i64, set: &str) {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(HANG).unwrap();
    let changed = conn
        .execute(
            &format!(
                "UPDATE events SET {set} WHERE version = ?2 AND actor_key = \
                 (SELECT actor_key FROM actors WHERE actor_id = ?1)"
            ),
            rusqlite::params![actor_id, version],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[track_caller]
fn expect_serialization(
    result: Result<Vec<aether_core::Event>, StoreError>,
    actor: &str,
    version: i64,
) {
    match result {
        Err(err @ StoreError::Serialization { .. }) => {
            assert_eq!(err.actor_id(), actor, "{err}");
            assert_eq!(err.version(), version, "{err}");
            let text = err.to_string();
            assert!(
                text.contains(actor) && text.contains(&version.to_string()),
                "{text}"
            );
        }
        other => panic!("expected a serialization error for {actor} at {version}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_rows_are_serialization_errors_naming_actor_and_version() {
    let store = TempStore::new().await;
    let path = store.store.path().to_owned();
    let cases = [
        ("bad-json", "data = '{\"amount\": '"),
        ("blob-data", "data = x'00ff'"),
        ("nanos-out-of-range", "ts_nanos = 5000000000"),
        ("negative-nanos", "ts_nanos = -1"),
        ("text-timestamp", "ts_secs = 'yesterday'"),
        ("seconds-out-of-range", "ts_secs = 9223372036854775807"),
        ("blob-id", "id = x'ff'"),
        ("invalid-utf8", "event_type = CAST(x'c328' AS TEXT)"),
    ];
    for (actor, set) in cases {
        store
            .save_events(&[event(actor, 1), event(actor, 2), event(actor, 3)])
            .await
            .unwrap();
        corrupt(&path, actor, 2, set);
        expect_serialization(store.get_events(actor, 0).await, actor, 2);
        // Rows after the corrupt one still read.
        assert_eq!(
            store.get_events(actor, 3).await.unwrap().len(),
            1,
            "{actor}"
        );
    }
    // A broken chain is reported, not followed.
    let actor = "broken-chain";
    store
        .save_events(&[event(actor, 1), event(actor, 2), event(actor, 3)])
        .await
        .unwrap();
    corrupt(&path, actor, 3, "prev_seq = seq");
    expect_serialization(store.get_events(actor, 0).await, actor, 3);
    // The store still works.
    store.save_event(&event(actor, 4)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.save_event(&event("account", 1)).await.unwrap();
    store.close().await.unwrap();

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    drop(conn);

    let err = SqliteStore::open(&path).await.unwrap_err();
    match &err {
        OpenError::NewerSchema {
            found, supported, ..
        } => assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
            && text.contains("upgrade aether-sqlite"),
        "{text}"
    );

    // Back to the known version, the data is all there.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.get_latest_version("account").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE events (x); PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, OpenError::NotAnAetherStore { .. }), "{err:?}");

    let path = dir.path().join("not-a-database.db");
    std::fs::write(&path, b"this is not an sqlite file, not at all, no no no").unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, OpenError::Sqlite { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopening_at_every_level() {
    for level in [Synchronous::Normal, Synchronous::Full, Synchronous::Extra] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::builder(&path)
            .synchronous(level)
            .open()
            .await
            .unwrap();
        assert_eq!(store.synchronous(), level);
        let batch = [event("a", 1), event("a", 2)];
        store.save_events(&batch).await.unwrap();
        store.close().await.unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.get_events("a", 0).await.unwrap(), batch);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_check_versions_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    a.save_event(&event("shared", 1)).await.unwrap();
    // b has never seen the actor; its check still reads the file.
    let err = b.save_event(&event("shared", 1)).await.unwrap_err();
    assert_eq!(err.as_version_conflict().unwrap().current_version, 1);
    b.save_event(&event("shared", 2)).await.unwrap();
    // a has the actor's key cached, but not its version.
    let err = a.save_event(&event("shared", 2)).await.unwrap_err();
    assert_eq!(err.as_version_conflict().unwrap().current_version, 2);
    a.save_event(&event("shared", 3)).await.unwrap();
    let versions: Vec<i64> = b
        .get_events("shared", 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_with_nul_round_trip_and_stay_apart() {
    let store = TempStore::new().await;
    let ids = ["a\0b", "a", "\0", "a\0", "a\0c"];
    for id in ids {
        let mut e = event(id, 1);
        e.event_type = format!("With\0Nul {id}");
        e.command_id = Some("\0".into());
        store.save_event(&e).await.unwrap();
    }
    for id in ids {
        let events = store.get_events(id, 0).await.unwrap();
        assert_eq!(events.len(), 1, "{id:?}");
        assert_eq!(events[0].actor_id, id);
        assert_eq!(events[0].event_type, format!("With\0Nul {id}"));
        assert_eq!(store.get_latest_version(id).await.unwrap(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_and_stays_bounded_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Arc::new(
        SqliteStore::builder(&path)
            .synchronous(Synchronous::Normal)
            .wal_autocheckpoint(64)
            .open()
            .await
            .unwrap(),
    );
    let pad = "x".repeat(1_000);
    let tasks: Vec<_> = (0..100)
        .map(|w| {
            let store = Arc::clone(&store);
            let pad = pad.clone();
            tokio::spawn(async move {
                let id = format!("writer-{w}");
                for v in 1..=100 {
                    let mut e = event(&id, v);
                    e.data = serde_json::json!({ "pad": pad });
                    store.save_event(&e).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // 10 MB went through a WAL that restarts after each full checkpoint: its file never
    // grows past the hard limit (4 x 64 pages) plus one group commit.
    let wal = std::fs::metadata(format!("{}-wal", path.display()))
        .unwrap()
        .len();
    assert!(wal < 3_000_000, "the WAL grew to {wal} bytes");
    let main = std::fs::metadata(&path).unwrap().len();
    assert!(
        main > 8_000_000,
        "checkpoints copied the WAL into the file ({main} bytes)"
    );
    assert_eq!(store.get_latest_version("writer-99").await.unwrap(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_in_the_crate_docs_reads_a_history() {
    let store = TempStore::new().await;
    store
        .save_events(&[event("account-1", 1), event("account-1", 2)])
        .await
        .unwrap();
    store.save_event(&event("account-2", 1)).await.unwrap();
    store.save_event(&event("account-1", 5)).await.unwrap();
    let conn = Connection::open(store.store.path()).unwrap();
    let mut stmt = conn
        .prepare(
            "WITH RECURSIVE chain(seq) AS (
                 SELECT latest_seq FROM actors WHERE actor_id = 'account-1'
                 UNION ALL SELECT e.prev_seq FROM events e JOIN chain c ON e.seq = c.seq
             )
             SELECT e.* FROM chain c JOIN events e ON e.seq = c.seq",
        )
        .unwrap();
    let ids: Vec<String> = stmt
        .query_map([], |row| row.get("id"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, ["account-1-5", "account-1-2", "account-1-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_store_still_in_use_names_the_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    // Held elsewhere, as a runtime's actor task holds it until shutdown.
    let in_use = Arc::clone(&store);
    let err = SqliteStore::close_shared(store).await.unwrap_err();
    let message = err.to_string();
    let CloseError::StillShared {
        path: named,
        others,
        store,
    } = err
    else {
        panic!("expected StillShared, got {message}");
    };
    assert_eq!((named.as_path(), others), (path.as_path(), 1));
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("1 other handle")
            && message.contains("Runtime::shutdown"),
        "the message names the file, the other handles and what to do: {message}"
    );
    assert!(
        !message.contains("actor \"\"") && !message.contains("version 0"),
        "no invented actor or version: {message}"
    );
    // Nothing was closed: the store still writes.
    in_use.save_event(&event("still-open", 1)).await.unwrap();
    drop(in_use);
    SqliteStore::close_shared(store).await.unwrap();
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.get_latest_version("still-open").await.unwrap(), 1);
    reopened.close().await.unwrap();
}
