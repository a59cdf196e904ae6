//! Two processes on one SQLite file both make progress.
//!
//! Two child processes, each with its own runtime over its own `SqliteStore` on the same
//! file, send deposits to the same 20 actors for 10 seconds (20 clients each, each
//! awaiting its ask; snapshots every 10 events). Each child counts its acknowledged
//! asks per second. The test checks that
//!
//! - neither process starves: each acknowledged at least 20% of the total, and at least
//!   one ask in every one-second bucket;
//! - a busy database never surfaces: no ask failed (`database is locked` after the busy
//!   timeout was the symptom), and none ran out of conflict retries;
//! - no update is lost: each actor's stored deposits are exactly those acknowledged to
//!   it, and a fresh runtime serves the state of a full replay.
//!
//! Measured on the 2-core development machine (load 4 to 7 from other builds), debug
//! build, `synchronous = FULL` (the default), acknowledged asks per second:
//!
//! - before the writer shared the lock (SQLite's default busy handler, the writer taking
//!   the lock back at once after each commit), two runs:
//!   - `pa [977, 3740, 13620, 6603, 2165, 997, 336, 8607, 1654, 16304]`,
//!     `pb [7814, 2769, 0, 2166, 4402, 9668, 10980, 1090, 11700, 1534]`;
//!   - `pa [13830, 14537, 18838, 20127, 20101, 1713, 3655, 19534, 19766, 20229]` (82%),
//!     `pb [0, 0, 0, 0, 0, 17263, 15747, 0, 0, 0]` (18%), and 15 of pb's asks failed
//!     with `database is locked`;
//! - after (`aether-sqlite/src/lock.rs`), two runs:
//!   - `pa [1398, 1931, 1478, 2096, 2159, 2646, 2096, 2104, 1075, 2221]` (48%),
//!     `pb [1922, 1846, 1852, 2005, 3177, 2463, 2235, 2172, 1561, 1766]` (52%);
//!   - `pa [2900, 2631, 3288, 2703, 3083, 3310, 1874, 1837, 2536, 2103]` (51%),
//!     `pb [3134, 2792, 2532, 2850, 2658, 2640, 2188, 1469, 2334, 2823]` (49%).
//!
//! Fewer asks in all than before: when both processes write the same actors, about one
//! decide in three meets a version conflict and rehydrates the actor (before, one
//! process mostly wrote alone and met almost none: 53 conflicts in 152,000 asks).
//!
//! The asks carry no command id. With one, each retry after a conflict also reloads the
//! actor's idempotency window from the store, and the process that falls behind then
//! loses most races for the same actors however the lock is shared (measured on the
//! same store code: 16% / 84% with ids, the loser at 3 to 150 asks a second for the
//! last five seconds; 48% / 52% without). That is the runtime's cost of a conflict,
//! not the store's lock, so this test leaves it out.
//!
//! ```text
//! cargo test --all-features --test sqlite_two_processes_fairness -- --nocapture
//! AETHER_FAIR_SYNC=NORMAL AETHER_FAIR_SECS=30 cargo test ...   # other settings
//! ```
#![cfg(feature = "sqlite")]

mod process_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether::sqlite::{SqliteStore, Synchronous};
use aether::{AskError, AskOptions, Runtime, SnapshotStore};
use process_common::{bank_id, say, Ack, Bank, BankCmd, Child, Rng};

const CHILD_ENV: &str = "AETHER_FAIR_CHILD";
const TEST: &str = "two_processes_on_one_sqlite_file_both_make_progress";
const ACTORS: usize = 20;
const CLIENTS: usize = 20;
const CONFLICT_RETRIES: u32 = 1_000;

fn seconds() -> u64 {
    std::env::var("AETHER_FAIR_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

fn synchronous() -> Synchronous {
    match std::env::var("AETHER_FAIR_SYNC").as_deref() {
        Ok("NORMAL") => Synchronous::Normal,
        _ => Synchronous::Full,
    }
}

fn actor_names() -> Vec<String> {
    (0..ACTORS).map(|a| format!("fair-{a}")).collect()
}

/// The child: `AETHER_FAIR_CHILD=<path>|<name>|<seconds>|<seed>`. After `GO` on stdin it
/// asks for `seconds`, then prints `BUCKETS <acks in second 0> <in second 1> ...`,
/// `ACK ...` per acknowledged command, `CONFLICT <actor> <cmd>` per command out of
/// conflict retries, `ERR <actor> <cmd> <error>` per other failure, and `DONE`.
fn child(spec: &str) {
    say("");
    let mut parts = spec.split('|');
    let path = parts.next().unwrap().to_owned();
    let name = parts.next().unwrap().to_owned();
    let secs: u64 = parts.next().unwrap().parse().unwrap();
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let rt = process_common::child_tokio();
    rt.block_on(async move {
        let store = SqliteStore::builder(&path)
            .synchronous(synchronous())
            .open()
            .await
            .expect("open the shared file");
        let store = Arc::new(store);
        let runtime = Runtime::builder(Arc::clone(&store) as Arc<dyn SnapshotStore>)
            .snapshot_every(10)
            .passivate_after(None)
            .conflict_retries(CONFLICT_RETRIES)
            .build();
        let names = Arc::new(actor_names());
        // Rehydrate every actor before the start, so the clock measures appends.
        for actor in names.iter() {
            runtime
                .actor::<Bank>(actor)
                .ask_timeout(BankCmd::Get, Duration::from_secs(30))
                .await
                .expect("warm up");
        }
        say("READY");
        process_common::wait_for_line_on_stdin();
        let started = Instant::now();
        let end = started + Duration::from_secs(secs);
        let buckets: Arc<Vec<AtomicU64>> =
            Arc::new((0..=secs).map(|_| AtomicU64::new(0)).collect());
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..CLIENTS {
            let (runtime, names, name) = (runtime.clone(), Arc::clone(&names), name.clone());
            let (buckets, lines) = (Arc::clone(&buckets), Arc::clone(&lines));
            let mut rng = Rng::new(seed ^ ((client as u64) << 8) ^ name.len() as u64);
            clients.spawn(async move {
                let mut n = 0u64;
                while Instant::now() < end {
                    let actor = &names[rng.range(0, ACTORS as u64 - 1) as usize];
                    let amount = rng.range(1, 100) as i64;
                    let cmd = format!("{name}-{client}-{n}");
                    n += 1;
                    let result = runtime
                        .actor::<Bank>(actor)
                        .ask_with(
                            BankCmd::deposit(&cmd, amount, 1),
                            // No command id: see the module docs.
                            AskOptions::new().timeout(Duration::from_secs(30)),
                        )
                        .await;
                    let line = match result {
                        Ok(state) => {
                            let second = started.elapsed().as_secs() as usize;
                            if let Some(bucket) = buckets.get(second) {
                                bucket.fetch_add(1, Ordering::Relaxed);
                            }
                            Ack {
                                actor: actor.clone(),
                                cmd,
                                version: state.events,
                                amount,
                                parts: 1,
                            }
                            .line()
                        }
                        Err(AskError::Conflict { .. }) => format!("CONFLICT {actor} {cmd}"),
                        Err(err) => format!("ERR {actor} {cmd} {err}"),
                    };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
        let counts: Vec<String> = buckets[..secs as usize]
            .iter()
            .map(|b| b.load(Ordering::Relaxed).to_string())
            .collect();
        say(&format!("BUCKETS {}", counts.join(" ")));
        say(&format!(
            "STATS {} decides, {:?}",
            process_common::DECIDES.load(Ordering::Relaxed),
            store.stats()
        ));
        for line in lines.lock().unwrap().iter() {
            say(line);
        }
        runtime.shutdown().await;
        say("DONE");
    });
}

/// What one child reported.
#[derive(Debug, Default)]
struct Report {
    buckets: Vec<u64>,
    acks: Vec<Ack>,
    conflicts: usize,
    errors: Vec<String>,
    stats: String,
}

fn report(lines: Vec<String>) -> Report {
    let mut out = Report::default();
    let mut done = false;
    for line in lines {
        if let Some(ack) = Ack::parse(&line) {
            out.acks.push(ack);
        } else if let Some(rest) = line.strip_prefix("BUCKETS ") {
            out.buckets = rest.split(' ').map(|n| n.parse().unwrap()).collect();
        } else if line.starts_with("CONFLICT ") {
            out.conflicts += 1;
        } else if let Some(rest) = line.strip_prefix("ERR ") {
            out.errors.push(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("STATS ") {
            rest.clone_into(&mut out.stats);
        } else if line == "DONE" {
            done = true;
        }
    }
    assert!(done, "the child did not finish its report");
    out
}

#[test]
fn two_processes_on_one_sqlite_file_both_make_progress() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let secs = seconds();
    let seed = process_common::seed();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let path_str = path.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Create the file (and its schema) before two processes race to.
    rt.block_on(async {
        SqliteStore::open(&path)
            .await
            .unwrap()
            .close()
            .await
            .unwrap()
    });
    eprintln!(
        "seed {seed}: 2 processes x {CLIENTS} clients over {ACTORS} shared actors for {secs} s, {:?}",
        synchronous()
    );
    let mut children: Vec<Child> = ["pa", "pb"]
        .iter()
        .map(|name| {
            let env = format!("{path_str}|{name}|{secs}|{seed}");
            Child::spawn(TEST, &[(CHILD_ENV, env)])
        })
        .collect();
    for child in &children {
        child.wait_for("READY", Duration::from_secs(60));
    }
    for child in &mut children {
        child.send_line("GO");
    }
    let reports: Vec<Report> = children
        .into_iter()
        .map(|child| report(child.finish(Duration::from_secs(secs + 60))))
        .collect();

    let totals: Vec<u64> = reports.iter().map(|r| r.buckets.iter().sum()).collect();
    let total: u64 = totals.iter().sum();
    for (name, (r, t)) in ["pa", "pb"].iter().zip(reports.iter().zip(&totals)) {
        eprintln!(
            "{name}: {t} acks ({:.0}%), per second {:?}, {} out of conflict retries, {} errors; store: {}",
            *t as f64 * 100.0 / total.max(1) as f64,
            r.buckets,
            r.conflicts,
            r.errors.len(),
            r.stats
        );
    }
    for (name, r) in ["pa", "pb"].iter().zip(&reports) {
        let locked = r
            .errors
            .iter()
            .filter(|e| e.contains("database is locked"))
            .count();
        assert_eq!(
            locked,
            0,
            "{name}: {locked} asks failed with `database is locked`, e.g. {:?}",
            r.errors.first()
        );
        assert!(
            r.errors.is_empty(),
            "{name}: {} asks failed, e.g. {:?}",
            r.errors.len(),
            r.errors.first()
        );
        assert_eq!(
            r.conflicts, 0,
            "{name}: asks ran out of {CONFLICT_RETRIES} conflict retries"
        );
    }
    assert!(total > 0, "no ask was acknowledged at all");
    for (name, (r, t)) in ["pa", "pb"].iter().zip(reports.iter().zip(&totals)) {
        assert!(
            *t * 5 >= total,
            "{name} acknowledged {t} of {total} asks: less than a fair share (20%), per second {:?}",
            r.buckets
        );
        assert!(
            r.buckets.iter().all(|&n| n > 0),
            "{name} acknowledged nothing in some second: {:?}",
            r.buckets
        );
    }

    // No update lost: each actor's stored deposits are exactly those acknowledged to it
    // (no ask failed, so every outcome is known), and its state from a fresh runtime
    // equals a full replay.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for ack in reports.iter().flat_map(|r| &r.acks) {
        *expected.entry(ack.actor.clone()).or_default() += ack.amount;
    }
    rt.block_on(async {
        let store: Arc<dyn SnapshotStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let runtime = Runtime::builder(Arc::clone(&store)).build();
        for actor in actor_names() {
            let events = store.get_events(&bank_id(&actor), 0).await.unwrap();
            let replay = Bank::replay(&events);
            let want = expected.get(&actor).copied().unwrap_or(0);
            assert_eq!(
                replay.balance, want,
                "{actor}: stored deposits differ from the acknowledged ones"
            );
            let served = runtime
                .actor::<Bank>(&actor)
                .ask_timeout(BankCmd::Get, Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(
                served, replay,
                "{actor}: a fresh runtime's state differs from a replay"
            );
        }
        runtime.shutdown().await;
    });
}
