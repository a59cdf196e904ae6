//! A SQLite store reading rows corrupted behind its back (any column of an event row or a
//! snapshot row set to arbitrary text, blob, integer or NULL by a raw connection): every
//! read answers with events or with an error naming the actor; the actor answers its
//! state or a start error; the neighbour's history is untouched.
#![no_main]

#[path = "../../tests/reliability_common/ledger.rs"]
mod ledger;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aether_core::{ActorSnapshot, Event, EventStore, SnapshotStore};
use aether_runtime::{AskError, Runtime};
use aether_sqlite::SqliteStore;
use ledger::{raw_event, Account, AccountCommand};
use rusqlite::types::Value as SqlValue;
use serde_json::json;

struct World {
    rt: tokio::runtime::Runtime,
    store: Arc<SqliteStore>,
    runtime: Runtime,
    raw: Mutex<rusqlite::Connection>,
    neighbour: Vec<Event>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.db");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (store, runtime, neighbour) = rt.block_on(async {
            // Normal: no fsync per commit; durability is not what this target checks.
            let store = Arc::new(
                SqliteStore::builder(&path)
                    .synchronous(aether_sqlite::Synchronous::Normal)
                    .open()
                    .await
                    .unwrap(),
            );
            let neighbour = vec![
                raw_event("Account|neighbour", 1, "Deposited", json!({"amount": 5})),
                raw_event("Account|neighbour", 2, "Withdrawn", json!({"amount": 2})),
            ];
            store.save_events(&neighbour).await.unwrap();
            let runtime = Runtime::builder(store.clone())
                .passivate_after(None)
                .build();
            (store, runtime, neighbour)
        });
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.busy_timeout(Duration::from_secs(10)).unwrap();
        World {
            rt,
            store,
            runtime,
            raw: Mutex::new(raw),
            neighbour,
            _dir: dir,
        }
    })
}

const EVENT_COLUMNS: [&str; 9] = [
    "id",
    "event_type",
    "command_id",
    "data",
    "ts_secs",
    "ts_nanos",
    "version",
    "prev_seq",
    "actor_key",
];
const SNAPSHOT_COLUMNS: [&str; 4] = ["state", "version", "ts_secs", "ts_nanos"];

fn sql_value(kind: u8, bytes: &[u8]) -> SqlValue {
    match kind % 4 {
        0 => SqlValue::Text(String::from_utf8_lossy(bytes).into_owned()),
        1 => SqlValue::Blob(bytes.to_vec()),
        2 => {
            let mut n = [0u8; 8];
            for (i, b) in bytes.iter().take(8).enumerate() {
                n[i] = *b;
            }
            SqlValue::Integer(i64::from_le_bytes(n))
        }
        _ => SqlValue::Null,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let w = world();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("victim-{n}");
    let stored = format!("Account|{id}");
    w.rt.block_on(async {
        let events: Vec<Event> = (1..=3)
            .map(|v| raw_event(&stored, v, "Deposited", json!({"amount": v})))
            .collect();
        w.store.save_events(&events).await.unwrap();
        w.store
            .save_snapshot(&ActorSnapshot {
                actor_id: stored.clone(),
                version: 2,
                state: json!({"balance": 3, "applied": 2}),
                timestamp: chrono::Utc::now(),
            })
            .await
            .unwrap();
    });
    {
        let raw = w.raw.lock().unwrap();
        let value = sql_value(data[2], &data[3..]);
        // Text with invalid UTF-8, which rusqlite's String parameter cannot carry.
        let as_text = data[2] % 8 == 4;
        let target = data[0] as usize % (EVENT_COLUMNS.len() + SNAPSHOT_COLUMNS.len());
        let cast = if as_text { "CAST(?1 AS TEXT)" } else { "?1" };
        let value = if as_text {
            SqlValue::Blob(data[3..].to_vec())
        } else {
            value
        };
        let sql = if target < EVENT_COLUMNS.len() {
            format!(
                "UPDATE events SET {} = {cast} WHERE seq = (SELECT e.seq FROM events e \
                 JOIN actors a ON a.actor_key = e.actor_key \
                 WHERE a.actor_id = ?2 AND e.version = ?3)",
                EVENT_COLUMNS[target]
            )
        } else {
            format!(
                "UPDATE snapshots SET {} = {cast} WHERE actor_key = \
                 (SELECT actor_key FROM actors WHERE actor_id = ?2) AND ?3 = ?3",
                SNAPSHOT_COLUMNS[target - EVENT_COLUMNS.len()]
            )
        };
        let version = i64::from(data[1] % 3) + 1;
        // NOT NULL constraints may refuse the update: then nothing is corrupted.
        let _ = raw.execute(&sql, rusqlite::params![value, stored, version]);
    }
    w.rt.block_on(async {
        for from in [0, 2, 3] {
            if let Err(err) = w.store.get_events(&stored, from).await {
                assert_eq!(err.actor_id(), stored, "{err}");
            }
        }
        if let Err(err) = w.store.get_latest_snapshot(&stored).await {
            assert_eq!(err.actor_id(), stored, "{err}");
        }
        match w
            .runtime
            .actor::<Account>(&id)
            .ask(AccountCommand::Get)
            .await
        {
            Ok(_) => {}
            Err(AskError::StartFailed(err)) => {
                assert_eq!(err.actor_id(), stored);
                assert!(err.to_string().contains(&stored), "{err}");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            w.store.get_events("Account|neighbour", 0).await.unwrap(),
            w.neighbour
        );
    });
});
