//! Acknowledged durable events per second of `SqliteStore`, against the raw limit of
//! SQLite on the same schema.
//!
//! ```text
//! cargo run --release -p aether-sqlite --example sqlite_throughput
//! ```
//!
//! For each `synchronous` level (FULL, the default, then NORMAL):
//!
//! - `sequential`: one writer, one event per append, awaiting each append;
//! - `concurrent`: 1,000 actors, each appending its next version in a loop, until
//!   `AETHER_BENCH_EVENTS` events (default 1,000,000) are acknowledged;
//! - `raw`: rusqlite alone on the same schema, with the store's statements (version check,
//!   insert, chain update), 1,000 interleaved actors, 1,000 events per transaction: what
//!   SQLite allows without the store around it.
//!
//! Environment: `AETHER_BENCH_EVENTS` (concurrent total), `AETHER_BENCH_SEQUENTIAL`
//! (sequential appends), `AETHER_BENCH_CHECKPOINT` (the store's `wal_autocheckpoint`,
//! default 4,000 pages), `AETHER_BENCH_ONLY` (`FULL` or `NORMAL`), `AETHER_BENCH_DIR` (where the files go; default a temp dir).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{Event, EventStore};
use aether_sqlite::{SqliteStore, Synchronous};
use rusqlite::{params, Connection};
use serde_json::json;

const ACTORS: usize = 1_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("0190f3a2-7c1e-7b3a-9d2f-{version:012}"),
        event_type: "Deposited".into(),
        actor_id: actor.to_owned(),
        command_id: Some(format!("cmd-{version}")),
        version,
        data: json!({ "amount": version, "currency": "EUR", "note": "benchmark payload" }),
        timestamp: chrono::Utc::now(),
    }
}

struct Run {
    events: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    transactions: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&mut self, label: &str) {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
            f64::from(self.latencies_us[i]) / 1000.0
        };
        let per_tx = if self.transactions > 0 {
            format!(
                "{:>8.1} events/tx",
                self.events as f64 / self.transactions as f64
            )
        } else {
            String::new()
        };
        println!(
            "{label:<28} {:>9} events in {:>6.2} s = {:>9.0} events/s   p50 {:>7.2} ms   p99 {:>7.2} ms {per_tx}",
            self.events,
            self.elapsed.as_secs_f64(),
            self.rate(),
            pct(0.50),
            pct(0.99),
        );
    }
}

async fn sequential(store: &SqliteStore, appends: usize) -> Run {
    let mut latencies_us = Vec::with_capacity(appends);
    let before = store.stats().transactions;
    let start = Instant::now();
    for v in 1..=appends as i64 {
        let e = event("sequential", v);
        let t = Instant::now();
        store.save_event(&e).await.expect("append");
        latencies_us.push(t.elapsed().as_micros() as u32);
    }
    Run {
        events: appends,
        elapsed: start.elapsed(),
        latencies_us,
        transactions: store.stats().transactions - before,
    }
}

async fn concurrent(store: Arc<SqliteStore>, total: usize) -> Run {
    let per_actor = total.div_ceil(ACTORS);
    let before = store.stats().transactions;
    let start = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let actor = format!("account-{a}");
                let mut latencies = Vec::with_capacity(per_actor);
                for v in 1..=per_actor as i64 {
                    let e = event(&actor, v);
                    let t = Instant::now();
                    store.save_event(&e).await.expect("append");
                    latencies.push(t.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(per_actor * ACTORS);
    for task in tasks {
        latencies_us.extend(task.await.expect("actor task"));
    }
    let elapsed = start.elapsed();
    Run {
        events: per_actor * ACTORS,
        elapsed,
        latencies_us,
        transactions: store.stats().transactions - before,
    }
}

/// rusqlite alone on the store's schema, with the store's statements.
fn raw(path: &std::path::Path, level: Synchronous, total: usize) -> Run {
    let conn = Connection::open(path).expect("raw open");
    let sync = match level {
        Synchronous::Normal => "NORMAL",
        _ => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 10000;"
    ))
    .unwrap();
    let mut keys = Vec::with_capacity(ACTORS);
    for a in 0..ACTORS {
        conn.execute(
            "INSERT INTO actors (actor_id, latest_version) VALUES (?1, 0)",
            [format!("raw-{a}")],
        )
        .unwrap();
        keys.push(conn.last_insert_rowid());
    }
    let rounds = total.div_ceil(ACTORS);
    let mut transactions = 0;
    let start = Instant::now();
    for v in 1..=rounds as i64 {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut latest = tx
                .prepare_cached(
                    "SELECT latest_version, latest_seq FROM actors WHERE actor_key = ?1",
                )
                .unwrap();
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (actor_key, version, prev_seq, id, event_type, command_id, \
                     data, ts_secs, ts_nanos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .unwrap();
            let mut update = tx
                .prepare_cached(
                    "UPDATE actors SET latest_version = ?2, latest_seq = ?3 WHERE actor_key = ?1",
                )
                .unwrap();
            for &key in &keys {
                let e = event("raw", v);
                let (current, prev): (i64, Option<i64>) = latest
                    .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                assert!(current < v);
                let data = serde_json::to_string(&e.data).unwrap();
                insert
                    .execute(params![
                        key,
                        v,
                        prev,
                        e.id,
                        e.event_type,
                        e.command_id,
                        data,
                        e.timestamp.timestamp(),
                        e.timestamp.timestamp_subsec_nanos()
                    ])
                    .unwrap();
                update
                    .execute(params![key, v, tx.last_insert_rowid()])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        transactions += 1;
    }
    Run {
        events: rounds * ACTORS,
        elapsed: start.elapsed(),
        latencies_us: Vec::new(),
        transactions,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = env_usize("AETHER_BENCH_EVENTS", 1_000_000);
    let sequential_appends = env_usize("AETHER_BENCH_SEQUENTIAL", 5_000);
    let checkpoint = env_usize("AETHER_BENCH_CHECKPOINT", 4_000) as u32;
    let tmp;
    let dir = match std::env::var("AETHER_BENCH_DIR") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => {
            tmp = tempfile::tempdir().expect("temp dir");
            tmp.path().to_owned()
        }
    };
    println!(
        "aether-sqlite throughput: SQLite {}, {} CPUs, {ACTORS} actors, {total} events concurrent, \
         {sequential_appends} sequential, files in {}",
        rusqlite::version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.display()
    );
    let only = std::env::var("AETHER_BENCH_ONLY").ok();
    for level in [Synchronous::Full, Synchronous::Normal] {
        let name = format!("{level:?}").to_uppercase();
        if only
            .as_ref()
            .is_some_and(|only| !only.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        let path = dir.join(format!("bench-{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = Arc::new(
            SqliteStore::builder(&path)
                .synchronous(level)
                .wal_autocheckpoint(checkpoint)
                .open()
                .await
                .expect("open"),
        );
        sequential(&store, sequential_appends)
            .await
            .print(&format!("{name} sequential (1 writer)"));
        let mut run = concurrent(Arc::clone(&store), total).await;
        run.print(&format!("{name} concurrent ({ACTORS} actors)"));
        // Reading back: one actor's whole history, interleaved with 999 others'.
        let reads = 100;
        let start = Instant::now();
        let mut read = 0;
        for a in 0..reads {
            read += store
                .get_events(&format!("account-{a}"), 0)
                .await
                .expect("read")
                .len();
        }
        let elapsed = start.elapsed();
        println!(
            "{name} get_events: {reads} actors' full histories ({} events each) in {:.2} s = {:.1} ms per history, {:.0} events/s",
            read / reads,
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / reads as f64,
            read as f64 / elapsed.as_secs_f64()
        );
        let stats = store.stats();
        println!(
            "{name} checkpoints: {} beside the writer, {} by the writer; lock waits {}, lock yields {} (0 when the file is not shared)",
            stats.checkpoints, stats.writer_checkpoints, stats.lock_waits, stats.lock_yields
        );
        SqliteStore::close_shared(store).await.expect("close");

        let raw_path = dir.join(format!("raw-{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", raw_path.display()));
        }
        SqliteStore::open(&raw_path)
            .await
            .expect("create the schema")
            .close()
            .await
            .expect("close");
        let mut raw_run = tokio::task::spawn_blocking(move || raw(&raw_path, level, total))
            .await
            .expect("raw run");
        raw_run.print(&format!("{name} raw rusqlite"));
        println!("{name} store / raw = {:.2}", run.rate() / raw_run.rate());
    }
}
