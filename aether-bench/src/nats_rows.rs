//! NATS rows of issue 15 beyond row 5: restart 500 actors and read each back, on NATS
//! JetStream and on SQLite in the same run.
//!
//! Setup (not timed): a runtime over the store writes `EVENTS_PER_ACTOR` deposits, one
//! command each (so one stored batch each), to each of `RESTART_ACTORS` actors; the
//! runtime shuts down and the store is closed. Timed: a new store handle (its own
//! connection, as a new process would have; connecting is not timed), a new runtime, and
//! one `Get` ask to every actor at once, each actor rehydrating (no snapshots: snapshot
//! read, then all its events); the row's figure is the time until the last reply, the
//! median of `ROUNDS` restarts over the same data. Every reply's balance is checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::SnapshotStore;
use aether_runtime::Runtime;

use crate::domain::{Account, Cmd};
use crate::harness::new_rt;
use crate::stats::{Measured, Row};
use crate::stores::{data_dir, unique_suffix};
use crate::Config;

/// Actors restarted and read back.
pub(crate) const RESTART_ACTORS: usize = 500;
/// Events each actor holds (one command, one stored batch each).
const EVENTS_PER_ACTOR: usize = 20;
/// Restarts measured; the row gives the median.
const ROUNDS: usize = 3;

const WORKLOAD: &str = "restart 500 actors (20 events each) and read each back";

/// Writes the actors' histories through a runtime over `store`, then shuts it down.
async fn fill(store: Arc<dyn SnapshotStore>) {
    let runtime = Runtime::new(store);
    let tasks: Vec<_> = (0..RESTART_ACTORS)
        .map(|i| {
            let actor = runtime.actor::<Account>(format!("restart-{i}"));
            tokio::spawn(async move {
                for _ in 0..EVENTS_PER_ACTOR {
                    actor.ask(Cmd::Deposit(1)).await.expect("fill ask");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("fill task");
    }
    runtime.shutdown().await;
}

/// One restart over `store` (just opened): every actor asked at once; the wall time until
/// the last reply, and each ask's latency.
async fn read_back(store: Arc<dyn SnapshotStore>) -> Round {
    let runtime = Runtime::new(store);
    let started = Instant::now();
    let tasks: Vec<_> = (0..RESTART_ACTORS)
        .map(|i| {
            let actor = runtime.actor::<Account>(format!("restart-{i}"));
            tokio::spawn(async move {
                let t = Instant::now();
                let state = actor.ask(Cmd::Get).await.map_err(|e| e.to_string())?;
                assert_eq!(state.balance, EVENTS_PER_ACTOR as i64, "restart-{i}");
                Ok::<_, String>(t.elapsed().as_nanos() as u64)
            })
        })
        .collect();
    let mut m = Round::default();
    for task in tasks {
        match task.await.expect("read-back task") {
            Ok(nanos) => {
                m.measured.lat.push(nanos);
                m.measured.ops += 1;
            }
            Err(err) => {
                m.failed += 1;
                m.first_error.get_or_insert(err);
            }
        }
    }
    m.measured.secs = started.elapsed().as_secs_f64();
    runtime.shutdown().await;
    m.measured = m.measured.finish();
    m
}

/// One restart: the asks answered, and the ones that failed (the first error kept).
#[derive(Default)]
struct Round {
    measured: Measured,
    failed: usize,
    first_error: Option<String>,
}

/// The median round (by wall time) and the min / max wall times.
fn summarize(mut rounds: Vec<Round>) -> (Round, f64, f64) {
    rounds.sort_by(|a, b| a.measured.secs.total_cmp(&b.measured.secs));
    let (min, max) = (
        rounds[0].measured.secs,
        rounds[rounds.len() - 1].measured.secs,
    );
    (rounds.swap_remove(rounds.len() / 2), min, max)
}

fn row(system: &str, (round, min, max): (Round, f64, f64)) -> Row {
    let m = &round.measured;
    let failed = match &round.first_error {
        Some(err) => format!(
            "; {} of {RESTART_ACTORS} asks FAILED, first: {err}",
            round.failed
        ),
        None => String::new(),
    };
    Row::value(WORKLOAD, system, m.secs, "s")
        .lat(m.pct(0.50), m.pct(0.99))
        .note(format!(
            "median of {ROUNDS} restarts ({min:.3}–{max:.3} s); p50/p99 per actor's first ask; \
             new store handle per restart, no snapshots{failed}"
        ))
}

async fn sqlite_restart() -> Result<(Round, f64, f64), String> {
    use aether_sqlite::SqliteStore;
    let dir = data_dir("restart-sqlite");
    let path = dir.join("restart.db");
    let store = SqliteStore::open(&path).await.map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    fill(Arc::clone(&store) as Arc<dyn SnapshotStore>).await;
    SqliteStore::close_shared(store)
        .await
        .map_err(|e| e.to_string())?;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let store = Arc::new(SqliteStore::open(&path).await.map_err(|e| e.to_string())?);
        rounds.push(read_back(Arc::clone(&store) as Arc<dyn SnapshotStore>).await);
        SqliteStore::close_shared(store)
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(summarize(rounds))
}

async fn nats_restart(url: String) -> Result<(Round, f64, f64), String> {
    use aether_nats::NatsStore;
    let namespace = format!("bench-restart-{}", unique_suffix().replace('_', "-"));
    let connect = || {
        NatsStore::builder(&url)
            .namespace(namespace.clone())
            .connect_timeout(Duration::from_secs(3))
            .connect()
    };
    let store = connect()
        .await
        .map_err(|e| format!("NATS at {url} unavailable: {e}"))?;
    fill(Arc::new(store.clone())).await;
    drop(store);
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let store = connect().await.map_err(|e| e.to_string())?;
        rounds.push(read_back(Arc::new(store)).await);
    }
    let store = connect().await.map_err(|e| e.to_string())?;
    let _ = store.delete_namespace().await;
    Ok(summarize(rounds))
}

/// The restart rows: aether on NATS JetStream and aether on SQLite, same run.
pub fn restart(_cfg: &Config) -> Result<Vec<Row>, String> {
    let url = crate::stores::nats_url();
    let rt = new_rt();
    let nats = rt.block_on(async { tokio::spawn(nats_restart(url)).await.expect("task") })?;
    let nats = row("aether runtime on NatsStore", nats);
    crate::progress(Some(&nats));
    let sqlite = rt.block_on(async { tokio::spawn(sqlite_restart()).await.expect("task") })?;
    let sqlite = row("aether runtime on SqliteStore (FULL)", sqlite);
    crate::progress(Some(&sqlite));
    let ratio = nats.value / sqlite.value;
    let nats = Row {
        note: format!("{}; {ratio:.1}× SQLite's time", nats.note),
        ..nats
    };
    Ok(vec![nats, sqlite])
}
