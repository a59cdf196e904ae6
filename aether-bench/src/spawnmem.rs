//! Row 4: spawn rate and resident bytes per idle actor. Each configuration runs in a
//! child process of its own (`--child spawnmem:SYSTEM:MODE:N`), so earlier rows' heap
//! does not blur the RSS delta.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::InMemoryStore;
use aether_runtime::Runtime;

use crate::domain::*;
use crate::harness::{new_rt, rss_bytes, trim_heap};
use crate::stats::{ratios_to, Measured, Row};
use crate::Config;

/// What a child reports on its last stdout line.
struct ChildResult {
    spawns_per_s: f64,
    p50_ns: u64,
    p99_ns: u64,
    bytes_per_actor: f64,
    live_after: usize,
}

/// Passivation idle time of the "with passivation" configuration.
const PASSIVATE_AFTER: Duration = Duration::from_millis(500);

pub fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let (system, mode, n) = (
        parts[1].to_owned(),
        parts[2].to_owned(),
        parts[3].parse::<usize>().expect("n"),
    );
    let rt = new_rt();
    let r = rt.block_on(async move {
        tokio::spawn(async move {
            match system.as_str() {
                "aether" => aether_child(mode == "passivate", n).await,
                "kameo" => kameo_child(n).await,
                other => panic!("unknown system {other}"),
            }
        })
        .await
        .expect("child task")
    });
    println!(
        "CHILD {} {} {} {} {}",
        r.spawns_per_s, r.p50_ns, r.p99_ns, r.bytes_per_actor, r.live_after
    );
}

async fn aether_child(passivate: bool, n: usize) -> ChildResult {
    let runtime = Runtime::builder(Arc::new(InMemoryStore::new()))
        .passivate_after(passivate.then_some(PASSIVATE_AFTER))
        .build();
    runtime
        .actor::<Account>("warm-up")
        .ask(Cmd::Get)
        .await
        .expect("warm-up");
    let mut lat = vec![0u64; n];
    let mut id = String::with_capacity(32);
    trim_heap();
    let before = rss_bytes();
    let started = Instant::now();
    for (i, slot) in lat.iter_mut().enumerate() {
        use std::fmt::Write;
        id.clear();
        let _ = write!(id, "acc-{i}");
        let t = Instant::now();
        // A query: the first ask starts (rehydrates) the actor but stores no event, so
        // the RSS delta is the actors' and the registry's, not the store's.
        runtime
            .actor::<Account>(&id)
            .ask(Cmd::Get)
            .await
            .expect("first ask");
        *slot = t.elapsed().as_nanos() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    if passivate {
        let deadline = Instant::now() + Duration::from_secs(30);
        while runtime.stats().live > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Let any just-finished task be reaped before reading.
    tokio::time::sleep(Duration::from_millis(50)).await;
    trim_heap();
    let after = rss_bytes();
    let live_after = runtime.stats().live;
    let m = Measured {
        ops: n as u64,
        secs,
        lat,
    }
    .finish();
    let r = ChildResult {
        spawns_per_s: m.rate(),
        p50_ns: m.pct(0.5).map_or(0, |d| d.as_nanos() as u64),
        p99_ns: m.pct(0.99).map_or(0, |d| d.as_nanos() as u64),
        bytes_per_actor: after.saturating_sub(before) as f64 / n as f64,
        live_after,
    };
    std::mem::forget(runtime); // no shutdown cost in the child
    r
}

async fn kameo_child(n: usize) -> ChildResult {
    let warm = spawn_kameo();
    warm.ask(KBalance).await.expect("warm-up");
    let mut lat = vec![0u64; n];
    let mut refs = Vec::with_capacity(n);
    trim_heap();
    let before = rss_bytes();
    let started = Instant::now();
    for slot in lat.iter_mut() {
        let t = Instant::now();
        let actor = spawn_kameo();
        actor.ask(KBalance).await.expect("first ask");
        *slot = t.elapsed().as_nanos() as u64;
        // kameo stops an actor when its last ActorRef is dropped: keep them.
        refs.push(actor);
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(50)).await;
    trim_heap();
    let after = rss_bytes();
    let m = Measured {
        ops: n as u64,
        secs,
        lat,
    }
    .finish();
    let r = ChildResult {
        spawns_per_s: m.rate(),
        p50_ns: m.pct(0.5).map_or(0, |d| d.as_nanos() as u64),
        p99_ns: m.pct(0.99).map_or(0, |d| d.as_nanos() as u64),
        bytes_per_actor: after.saturating_sub(before) as f64 / n as f64,
        live_after: refs.len(),
    };
    std::mem::forget(refs);
    r
}

fn spawn_child(system: &str, mode: &str, n: usize) -> Option<ChildResult> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .arg("--child")
        .arg(format!("spawnmem:{system}:{mode}:{n}"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with("CHILD "))?;
    let f: Vec<&str> = line.split_whitespace().skip(1).collect();
    Some(ChildResult {
        spawns_per_s: f[0].parse().ok()?,
        p50_ns: f[1].parse().ok()?,
        p99_ns: f[2].parse().ok()?,
        bytes_per_actor: f[3].parse().ok()?,
        live_after: f[4].parse().ok()?,
    })
}

pub fn run(cfg: &Config) -> Vec<Row> {
    let n = cfg.spawn_actors;
    let state = std::mem::size_of::<Account>();
    let ns = |v: u64| Some(Duration::from_nanos(v));
    let mut spawn_rows = Vec::new();
    let mut mem_rows = Vec::new();
    let spawn_wl = format!("spawn + first ask, {n} actors, sequential");
    let mem_wl = format!("resident bytes per idle actor, {n} actors");

    let runs = [
        ("aether", "idle", "aether (no passivation)"),
        ("aether", "passivate", "aether (passivate after 500 ms)"),
        ("kameo", "idle", "kameo (ActorRefs held)"),
    ];
    for (system, mode, label) in runs {
        let Some(r) = spawn_child(system, mode, n) else {
            eprintln!("  spawn/memory child {system}:{mode} failed");
            continue;
        };
        if mode != "passivate" {
            let row = Row::value(&spawn_wl, label, r.spawns_per_s, "spawns/s")
                .lat(ns(r.p50_ns), ns(r.p99_ns))
                .note("runtime.actor(id) + a query ask (no event stored)");
            crate::progress(Some(&row));
            spawn_rows.push(row);
        }
        let note = if system == "aether" {
            format!(
                "VmRSS delta / {n} after malloc_trim; state (Account) is {state} B, so {:.0} B/actor besides the state; live actors after: {}",
                r.bytes_per_actor - state as f64,
                r.live_after
            )
        } else {
            format!(
                "VmRSS delta / {n} after malloc_trim, incl. the held ActorRef; state is {} B",
                std::mem::size_of::<i64>()
            )
        };
        let row = Row::value(&mem_wl, label, r.bytes_per_actor, "B/actor").note(note);
        crate::progress(Some(&row));
        mem_rows.push(row);
    }
    ratios_to(&mut spawn_rows, "kameo (ActorRefs held)");
    ratios_to(&mut mem_rows, "kameo (ActorRefs held)");
    spawn_rows.extend(mem_rows);
    spawn_rows
}
