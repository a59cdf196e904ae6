//! Row 1: in-memory ask, 1 actor sequential and 1,000 actors with concurrent clients.

use std::sync::Arc;

use aether_core::InMemoryStore;
use aether_runtime::Runtime;

use crate::client::on_worker;
use crate::domain::*;
use crate::harness::{new_rt, warm_then_run, with_stdout_silenced};
use crate::stats::{ratios_to, Row};
use crate::Config;

/// Only aether's in-memory deposit row, for running under a profiler.
pub fn profile(actors: usize, dur: std::time::Duration) {
    let m = on_worker(&new_rt(), async move {
        let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
        let clients = (0..actors)
            .map(|i| AetherClient(runtime.actor::<Account>(format!("acc-{i}"))))
            .collect();
        let m = warm_then_run(clients, dur).await;
        runtime.shutdown().await;
        m
    });
    println!(
        "{}",
        crate::stats::fmt_row(&Row::new("profile", "aether", &m))
    );
}

pub fn run(cfg: &Config) -> Vec<Row> {
    let mut all = Vec::new();
    for actors in [1usize, cfg.actors] {
        let workload = if actors == 1 {
            "in-memory deposit, 1 actor, 1 client sequential".to_owned()
        } else {
            format!("in-memory deposit, {actors} actors, 1 client each")
        };
        let mut rows = Vec::new();
        let dur = cfg.dur;

        // aether: each deposit persists one event to InMemoryStore, applies it, replies.
        let m = on_worker(&new_rt(), async move {
            let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
            let clients = (0..actors)
                .map(|i| AetherClient(runtime.actor::<Account>(format!("acc-{i}"))))
                .collect();
            let m = warm_then_run(clients, dur).await;
            runtime.shutdown().await;
            m
        });
        rows.push(
            Row::new(&workload, "aether (InMemoryStore)", &m).note("persists 1 event per op"),
        );
        crate::progress(rows.last());

        // Diagnostic: the same runtime over a store that keeps nothing.
        let m = on_worker(&new_rt(), async move {
            let runtime = Runtime::new(Arc::new(NullStore));
            let clients = (0..actors)
                .map(|i| AetherClient(runtime.actor::<Account>(format!("acc-{i}"))))
                .collect();
            let m = warm_then_run(clients, dur).await;
            runtime.shutdown().await;
            m
        });
        rows.push(
            Row::new(&workload, "aether (no-op store, diagnostic)", &m)
                .note("same runtime, a store that keeps nothing: the runtime's own cost"),
        );
        crate::progress(rows.last());

        let m = on_worker(&new_rt(), async move {
            let clients = (0..actors).map(|_| RawClient(spawn_raw())).collect();
            warm_then_run(clients, dur).await
        });
        rows.push(
            Row::new(&workload, "raw tokio mpsc+oneshot", &m).note("no persistence: the limit"),
        );
        crate::progress(rows.last());

        let m = on_worker(&new_rt(), async move {
            let clients = (0..actors).map(|_| KameoClient(spawn_kameo())).collect();
            warm_then_run(clients, dur).await
        });
        rows.push(Row::new(&workload, "kameo ask", &m).note("no persistence"));
        crate::progress(rows.last());

        let m = on_worker(&new_rt(), async move {
            let mut clients = Vec::with_capacity(actors);
            for _ in 0..actors {
                clients.push(RactorClient(spawn_ractor().await));
            }
            warm_then_run(clients, dur).await
        });
        rows.push(Row::new(&workload, "ractor call", &m).note("no persistence"));
        crate::progress(rows.last());

        let m = with_stdout_silenced(|| {
            on_worker(&new_rt(), async move {
                let cqrs = cqrs_mem();
                let clients = (0..actors)
                    .map(|i| CqrsClient {
                        cqrs: Arc::clone(&cqrs),
                        id: format!("acc-{i}"),
                    })
                    .collect();
                warm_then_run(clients, dur).await
            })
        });
        let per_aggregate = m.ops as f64 / actors as f64;
        rows.push(Row::new(&workload, "cqrs-es MemStore", &m).note(format!(
            "replays the aggregate per op; ~{per_aggregate:.0} measured ops per aggregate; MemStore prints 2 lines per op (sent to /dev/null)"
        )));
        crate::progress(rows.last());

        ratios_to(&mut rows, "kameo ask");
        all.extend(rows);
    }
    all
}
