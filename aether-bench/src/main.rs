//! aether-bench: side-by-side benchmarks of the aether runtime against raw limits and
//! peer crates. One command, one table:
//!
//! ```text
//! cargo run --release --manifest-path aether-bench/Cargo.toml -- [--quick] [--only inmem,history,...]
//! ```
//!
//! Sections: `inmem`, `history`, `rehydrate`, `spawn`, `sqlite`, `hot` (one actor, 64
//! clients, SQLite), `postgres`, `nats`,
//! `projection` (the read side: catch-up from a stored feed, live append → handler lag),
//! `cluster` (aether-cluster on NATS: local vs remote ask, 1 vs 3 members, failover of a
//! SIGKILLed member process).
//! Every row runs on a fresh multi-thread tokio runtime with 2 workers; every ratio is
//! against a reference measured in the same run.

mod client;
mod cluster;
mod cluster_failover;
mod cqrs_domain;
mod domain;
mod harness;
mod history;
mod hot;
mod inmem;
mod nats_rows;
mod projection;
mod rehydrate;
mod spawnmem;
mod stats;
mod stores;

use std::time::{Duration, Instant};

use stats::Row;

/// What to run and how long.
#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    /// Measured time of each throughput row.
    pub dur: Duration,
    /// Actors (and clients) of the concurrent rows.
    pub actors: usize,
    /// History rows: window size W; the actor runs 10·W commands.
    pub history_window: usize,
    /// Events in the rehydrated actor's history.
    pub rehydrate_events: usize,
    /// Actors spawned for the spawn and memory rows.
    pub spawn_actors: usize,
}

pub const SECTIONS: &[&str] = &[
    "inmem",
    "history",
    "rehydrate",
    "spawn",
    "sqlite",
    "hot",
    "postgres",
    "nats",
    "projection",
    "cluster",
];

/// Parts of sections skipped (a server down), with the reason; listed after the table.
static SKIPPED_PARTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records that part of `section` was skipped, and why (printed now and after the table).
pub fn skipped_part(section: &str, reason: String) {
    eprintln!("  skipped: {reason}");
    SKIPPED_PARTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(format!("{section}: {reason}"));
}

/// Prints a finished row to stderr as it comes (the full table goes to stdout at the end).
pub fn progress(row: Option<&Row>) {
    if let Some(row) = row {
        eprintln!("  {}", stats::fmt_row(row));
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: aether-bench [--quick] [--only SECTION,...] [--skip SECTION,...] [--secs S]\n\
         sections: {}",
        SECTIONS.join(",")
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let spec = args.get(1).map(String::as_str).unwrap_or_default();
        if spec.starts_with("spawnmem:") {
            spawnmem::child(spec);
        } else if let Some(rest) = spec.strip_prefix("cluster-member:") {
            // `--child cluster-member:NAMESPACE:NODE`: a member process of the failover rows.
            cluster_failover::member_child(rest);
        } else if let Some(rest) = spec.strip_prefix("profile:") {
            // `--child profile:ACTORS:SECS`: only aether's in-memory row, for a profiler.
            let mut it = rest.split(':');
            let actors = it.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            let secs = it.next().and_then(|v| v.parse().ok()).unwrap_or(5.0);
            inmem::profile(actors, Duration::from_secs_f64(secs));
        }
        return;
    }
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut skip: Vec<String> = Vec::new();
    let mut secs: Option<f64> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                only = Some(
                    it.next()
                        .unwrap_or_else(|| usage())
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "--skip" => skip.extend(
                it.next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(str::to_owned),
            ),
            "--secs" => {
                secs = Some(
                    it.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    for name in only.iter().flatten().chain(&skip) {
        if !SECTIONS.contains(&name.as_str()) {
            eprintln!("unknown section {name:?}");
            usage();
        }
    }
    let cfg = if quick {
        Config {
            quick,
            dur: Duration::from_secs_f64(secs.unwrap_or(0.3)),
            actors: 1_000,
            history_window: 100,
            rehydrate_events: 10_000,
            spawn_actors: 10_000,
        }
    } else {
        Config {
            quick,
            dur: Duration::from_secs_f64(secs.unwrap_or(3.0)),
            actors: 1_000,
            history_window: 1_000,
            rehydrate_events: 100_000,
            spawn_actors: 100_000,
        }
    };
    let wanted = |s: &str| {
        only.as_ref().is_none_or(|o| o.iter().any(|x| x == s)) && !skip.iter().any(|x| x == s)
    };

    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for &section in SECTIONS {
        if !wanted(section) {
            continue;
        }
        eprintln!("== {section}");
        let t = Instant::now();
        let result: Result<Vec<Row>, String> = match section {
            "inmem" => Ok(inmem::run(&cfg)),
            "history" => Ok(history::run(&cfg)),
            "rehydrate" => Ok(rehydrate::run(&cfg)),
            "spawn" => Ok(spawnmem::run(&cfg)),
            "sqlite" => stores::sqlite(&cfg),
            "hot" => hot::run(&cfg),
            "postgres" => stores::postgres(&cfg),
            "nats" => stores::nats(&cfg),
            "projection" => projection::run(&cfg),
            "cluster" => cluster::run(&cfg),
            _ => Err("unknown section".to_owned()),
        };
        match result {
            Ok(r) => rows.extend(r),
            Err(reason) => {
                eprintln!("  skipped: {reason}");
                skipped.push(format!("{section}: {reason}"));
            }
        }
        eprintln!("   ({:.1} s)", t.elapsed().as_secs_f64());
    }
    println!();
    println!(
        "aether-bench{} — 2 tokio workers; ratio = rate / the named reference's rate, same run",
        if quick { " --quick" } else { "" }
    );
    println!();
    print!("{}", stats::table(&rows));
    let parts = SKIPPED_PARTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for s in skipped.iter().chain(&parts) {
        println!("skipped {s}");
    }
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
