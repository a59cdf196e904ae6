//! Sustained load: many commands over many actors with passivation on and a short idle
//! time, so actors are passivated and rehydrated over and over, on the in-memory store
//! and on SQLite. The test checks that
//!
//! - every ask resolves (each has a 60 s guard; none may hit it) and succeeds;
//! - the store holds exactly one event per acknowledged command (nothing lost, nothing
//!   doubled), summed over every actor's latest version;
//! - after the run every actor passivates (no task left behind);
//! - resident memory stays bounded: `VmRSS` is sampled every 20 ms and its peak printed
//!   and checked against a ceiling near the measured growth (see [`IN_MEMORY_CEILING`]),
//!   so that a leak of about 1 KB per command fails.
//!
//! Default (CI) size: 100,000 commands over 10,000 actors per store. The full run,
//! 1,000,000 commands over 10,000 actors, is behind `AETHER_HEAVY=1` and is meant to run
//! in release mode, one test per process so that each peak RSS is its own:
//!
//! ```text
//! cargo test --all-features --test reliability_load -- --nocapture
//! AETHER_HEAVY=1 cargo test --release --all-features --test reliability_load \
//!     -- --nocapture --exact in_memory_sustained_load_with_passivation
//! AETHER_HEAVY=1 cargo test --release --all-features --test reliability_load \
//!     -- --nocapture --exact sqlite_sustained_load_with_passivation
//! ```
//!
//! The in-memory store keeps every event in the process, so its RSS grows with the run
//! (about 1.2 KB per event); the SQLite store keeps them in the file.
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod process_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether::{AskError, EventStore, InMemoryStore, Runtime, SnapshotStore};
use process_common::{mib, Bank, BankCmd, Rng, RssSampler};

const ACTORS: usize = 10_000;
const CLIENTS: usize = 256;
const IDLE: Duration = Duration::from_millis(20);

/// The two tests measure one process's memory: run them one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn commands() -> u64 {
    if process_common::heavy() {
        1_000_000
    } else {
        100_000
    }
}

fn kind<E>(err: &AskError<E>) -> &'static str {
    match err {
        AskError::Store { .. } => "store",
        AskError::StartFailed(_) => "start failed",
        AskError::Timeout { .. } => "timeout",
        AskError::Conflict { .. } => "conflict",
        AskError::Stopped { .. } => "stopped",
        AskError::Panicked { .. } => "panicked",
        AskError::MailboxFull { .. } => "mailbox full",
        AskError::ShuttingDown { .. } => "shutting down",
        _ => "other",
    }
}

/// `rss_ceiling`: the most the resident set may grow over its size at the start.
async fn sustained(label: &str, store: Arc<dyn SnapshotStore>, rss_ceiling: u64) {
    let total = commands();
    let seed = process_common::seed();
    let baseline = process_common::rss_bytes().unwrap_or(0);
    let sampler = RssSampler::start();
    eprintln!(
        "{label}: seed {seed}, {total} commands over {ACTORS} actors from {CLIENTS} clients, passivate_after {IDLE:?}, RSS at start {:.1} MiB",
        mib(baseline)
    );
    let runtime = Runtime::builder(Arc::clone(&store))
        .snapshot_every(10)
        .passivate_after(Some(IDLE))
        .build();
    let names: Arc<Vec<String>> = Arc::new((0..ACTORS).map(|a| format!("load-{a}")).collect());
    let ok = Arc::new(AtomicU64::new(0));
    let hung = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS as u64 {
        let (runtime, names) = (runtime.clone(), Arc::clone(&names));
        let (ok, hung, errors) = (Arc::clone(&ok), Arc::clone(&hung), Arc::clone(&errors));
        let mine = total / CLIENTS as u64 + u64::from(client < total % CLIENTS as u64);
        clients.spawn(async move {
            let mut rng = Rng::new(seed ^ (client << 20));
            for _ in 0..mine {
                let actor = &names[rng.range(0, ACTORS as u64 - 1) as usize];
                let actor_ref = runtime.actor::<Bank>(actor);
                let ask = actor_ref.ask(BankCmd::deposit("", 1, 1));
                match tokio::time::timeout(Duration::from_secs(60), ask).await {
                    Ok(Ok(_)) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(err)) => {
                        eprintln!("{actor}: {err}");
                        *errors.lock().unwrap().entry(kind(&err)).or_default() += 1;
                    }
                    Err(_) => {
                        hung.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // Progress every tenth of the run.
    let reporter = {
        let (ok, runtime, label) = (Arc::clone(&ok), runtime.clone(), label.to_owned());
        tokio::spawn(async move {
            let mut next = total / 10;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let done = ok.load(Ordering::Relaxed);
                if done >= next {
                    let stats = runtime.stats();
                    eprintln!(
                        "{label}: {done} acknowledged, {:.1?}, RSS {:.1} MiB, live actors {}, spawned {}, passivated {}",
                        started.elapsed(),
                        mib(process_common::rss_bytes().unwrap_or(0)),
                        stats.live,
                        stats.spawned,
                        stats.passivated
                    );
                    next += total / 10;
                }
            }
        })
    };
    while let Some(joined) = clients.join_next().await {
        joined.expect("client task");
    }
    let elapsed = started.elapsed();
    reporter.abort();
    let ok = ok.load(Ordering::Relaxed);
    let hung = hung.load(Ordering::Relaxed);
    let errors = errors.lock().unwrap().clone();

    // Every actor passivates once idle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while runtime.stats().live > 0 {
        assert!(
            Instant::now() < deadline,
            "{label}: {} actors still live 30 s after the run",
            runtime.stats().live
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = runtime.stats();
    runtime.shutdown().await;
    let peak = sampler.peak();
    drop(sampler);

    let mut stored = 0;
    for actor in names.iter() {
        stored += store
            .get_latest_version(&process_common::bank_id(actor))
            .await
            .unwrap();
    }
    eprintln!(
        "{label}: {ok} of {total} acknowledged in {elapsed:.1?} ({:.0} commands/s), {hung} hung, errors {errors:?}, {stored} events stored, actors spawned {} times and passivated {} times, peak RSS {:.1} MiB (start {:.1} MiB)",
        ok as f64 / elapsed.as_secs_f64(),
        stats.spawned,
        stats.passivated,
        mib(peak),
        mib(baseline)
    );
    assert_eq!(hung, 0, "{label}: asks hung");
    assert!(errors.is_empty(), "{label}: asks failed: {errors:?}");
    assert_eq!(ok, total, "{label}: every ask succeeded");
    assert_eq!(
        stored as u64, ok,
        "{label}: stored events == acknowledged commands"
    );
    assert!(
        stats.passivated > ACTORS as u64,
        "{label}: actors cycled through passivation ({} passivations)",
        stats.passivated
    );
    // Growth over the start: the other test of this binary may have run first in the
    // same process, and freed memory is not always returned to the OS.
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < rss_ceiling,
        "{label}: RSS grew by {:.1} MiB, over the ceiling of {:.1} MiB",
        mib(growth),
        mib(rss_ceiling)
    );
}

const MIB: u64 = 1024 * 1024;

/// Runs one test on its own tokio runtime, one test at a time.
fn run(test: impl std::future::Future<Output = ()>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// The ceilings of the default run: the growth measured in debug builds on the CI
/// machine (2 cores) plus about 25 % of noise, so that a leak of 1 KB per command (about
/// 100 MiB over the run) fails. Measured: in-memory 130 MiB when it runs first, 116 MiB
/// after the SQLite test; SQLite 24 to 27 MiB. The heavy runs (release, ten times the
/// commands) keep the earlier, unmeasured ceilings.
const IN_MEMORY_CEILING: u64 = 160 * MIB;
const SQLITE_CEILING: u64 = 48 * MIB;

#[test]
fn in_memory_sustained_load_with_passivation() {
    // The in-memory store keeps every event: its share grows with the run.
    let ceiling = if process_common::heavy() {
        2_048 * MIB
    } else {
        IN_MEMORY_CEILING
    };
    run(sustained(
        "in-memory",
        Arc::new(InMemoryStore::new()),
        ceiling,
    ));
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_sustained_load_with_passivation() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let store = aether::sqlite::SqliteStore::open(dir.path().join("load.db"))
            .await
            .expect("open the SQLite file");
        // Events live in the file: memory should not grow with the run.
        let ceiling = if process_common::heavy() {
            512 * MIB
        } else {
            SQLITE_CEILING
        };
        sustained("sqlite", Arc::new(store), ceiling).await;
    });
}
