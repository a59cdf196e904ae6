//! The runtime's first figures: resident memory per idle actor with 100,000 actors, and
//! in-memory commands/s with 1,000 actors. Release build, on `InMemoryStore`:
//!
//! ```text
//! cargo run --release -p aether-runtime --features testkit --example runtime_figures
//! ```
//!
//! The side-by-side comparison with peers is `aether-bench` (see BENCHMARKS.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::InMemoryStore;
use aether_runtime::testkit::account::{Account, AccountCommand as Cmd};
use aether_runtime::{AskOptions, Runtime};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // 1. Resident memory per idle actor.
    const IDLE: usize = 100_000;
    let runtime = Runtime::builder(Arc::new(InMemoryStore::new()))
        .passivate_after(None)
        .build();
    // Warm up allocator and runtime structures.
    runtime
        .actor::<Account>("warmup")
        .ask(Cmd::Get)
        .await
        .unwrap();
    let before = rss_bytes();
    let started = Instant::now();
    for i in 0..IDLE {
        runtime
            .actor::<Account>(format!("idle-{i}"))
            .ask(Cmd::Get)
            .await
            .unwrap();
    }
    let spawn_secs = started.elapsed().as_secs_f64();
    let after = rss_bytes();
    let per_actor = (after - before) as f64 / IDLE as f64;
    println!(
        "idle actors: {IDLE} spawned and asked once in {spawn_secs:.2}s ({:.0}/s); \
         resident {:.0} bytes per idle actor (state: {} bytes)",
        IDLE as f64 / spawn_secs,
        per_actor,
        std::mem::size_of::<Account>()
    );
    runtime.shutdown().await;
    drop(runtime);

    // 1b. What remembering command ids costs: actors that each applied 64 commands with
    // a command id, with the defaults (ids and the 64 replies kept), then with nothing
    // remembered (`idempotency_window(0)`); the difference is the runtime's memory for
    // them, the rest is the events in the store.
    const WITH_IDS: usize = 10_000;
    const IDS: usize = 64;
    let mut resident = Vec::new();
    let mut kept = Vec::new(); // both alive while measuring: freed memory is not reused
    for window in [0, 1_000] {
        let runtime = Runtime::builder(Arc::new(InMemoryStore::new()))
            .passivate_after(None)
            .idempotency_window(window)
            .build();
        let before = rss_bytes();
        for i in 0..WITH_IDS {
            let account = runtime.actor::<Account>(format!("ids-{i}"));
            for n in 0..IDS {
                let options = AskOptions::new().command_id(format!("payment-{i}-{n:04}"));
                account.ask_with(Cmd::Deposit(1), options).await.unwrap();
            }
        }
        resident.push((rss_bytes() - before) as f64 / WITH_IDS as f64);
        kept.push(runtime);
    }
    for runtime in kept {
        runtime.shutdown().await;
    }
    println!(
        "actors with {IDS} command ids each: resident {:.0} bytes per actor with ids and \
         replies kept, {:.0} without (events in the store included): {:.0} bytes per \
         remembered id",
        resident[1],
        resident[0],
        (resident[1] - resident[0]) / IDS as f64
    );

    // 2. In-memory commands/s with 1,000 actors, one client task per actor.
    const ACTORS: usize = 1_000;
    let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
    let run_for = Duration::from_secs(3);
    let refs: Vec<_> = (0..ACTORS)
        .map(|i| runtime.actor::<Account>(format!("busy-{i}")))
        .collect();
    let deadline = Instant::now() + run_for;
    let started = Instant::now();
    let clients: Vec<_> = refs
        .into_iter()
        .map(|account| {
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    account.ask(Cmd::Deposit(1)).await.unwrap();
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for client in clients {
        total += client.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "in-memory: {total} commands over {ACTORS} actors in {secs:.2}s = {:.0} commands/s",
        total as f64 / secs
    );
    runtime.shutdown().await;
}
