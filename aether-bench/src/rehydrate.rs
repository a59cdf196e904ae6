//! Row 3: rehydration of an actor with a long history, with and without snapshots.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{InMemoryStore, SnapshotStore};
use aether_runtime::Runtime;

use crate::domain::*;
use crate::harness::{new_rt, with_stdout_silenced};
use crate::stats::{Measured, Row};
use crate::Config;

const SNAPSHOT_EVERY: u64 = 1_000;

/// Time from `runtime.actor(id)` to its first reply, on a fresh runtime each trial.
async fn first_reply(make: impl Fn() -> Runtime, trials: usize, expected: i64) -> Measured {
    let mut m = Measured::default();
    for _ in 0..trials {
        let runtime = make();
        let t = Instant::now();
        let balance = runtime
            .actor::<Account>("big")
            .ask(Cmd::Get)
            .await
            .expect("rehydrate")
            .balance;
        let took = t.elapsed();
        assert_eq!(balance, expected, "rehydrated state");
        m.lat.push(took.as_nanos() as u64);
        m.ops += 1;
        m.secs += took.as_secs_f64();
        runtime.shutdown().await;
    }
    m.finish()
}

pub fn run(cfg: &Config) -> Vec<Row> {
    let n = cfg.rehydrate_events;
    let workload = format!("rehydrate {n} events, time to first reply");
    let mut rows = Vec::new();
    new_rt().block_on(async {
        // The history, written through the runtime itself with snapshots every 1,000.
        let store = Arc::new(InMemoryStore::new());
        let writer = Runtime::builder(store.clone())
            .snapshot_every(SNAPSHOT_EVERY)
            .build();
        let actor = writer.actor::<Account>("big");
        for _ in 0..n {
            actor.ask(Cmd::Deposit(1)).await.expect("deposit");
        }
        writer.shutdown().await;
        let snap = store
            .get_latest_snapshot("Account|big")
            .await
            .expect("snapshot read")
            .map_or(0, |s| s.version);

        let with = first_reply(
            || {
                Runtime::builder(store.clone())
                    .snapshot_every(SNAPSHOT_EVERY)
                    .build()
            },
            if cfg.quick { 5 } else { 30 },
            n as i64,
        )
        .await;
        let none = first_reply(
            || Runtime::builder_without_snapshots(store.clone()).build(),
            if cfg.quick { 2 } else { 7 },
            n as i64,
        )
        .await;
        let p50 = |m: &Measured| m.pct(0.5).unwrap_or(Duration::ZERO).as_secs_f64();
        let none_rate = n as f64 / p50(&none);
        let none_row = Row::value(&workload, "aether, no snapshots", none_rate, "events/s")
            .lat(none.pct(0.5), none.pct(0.99))
            .note(format!(
                "replays all {n} events; rate = events replayed / p50"
            ));
        let mut with_row = Row::value(
            &workload,
            "aether, snapshot every 1,000",
            1.0 / p50(&with),
            "rehydrations/s",
        )
        .lat(with.pct(0.5), with.pct(0.99))
        .note(format!(
            "latest snapshot at v{snap}, so {} events replayed; rate = 1 / p50; ratio = time saved",
            n as i64 - snap
        ));
        with_row.ratio = Some((
            p50(&none) / p50(&with),
            "faster than no snapshots".to_owned(),
        ));
        crate::progress(Some(&with_row));
        crate::progress(Some(&none_row));
        rows.push(with_row);
        rows.push(none_row);
    });

    // cqrs-es: every command loads (replays) the aggregate; one command on the same history.
    let m = with_stdout_silenced(|| {
        new_rt().block_on(async {
            use cqrs_es::EventStore as _;
            let store = cqrs_es::mem_store::MemStore::<CAccount>::default();
            let ctx = store.load_aggregate("big").await.expect("load");
            let events = (0..n).map(|_| CEvent::Deposited { amount: 1 }).collect();
            store
                .commit(events, ctx, HashMap::new())
                .await
                .expect("commit");
            let cqrs = cqrs_es::CqrsFramework::new(store, vec![], ());
            let mut m = Measured::default();
            for _ in 0..(if cfg.quick { 2 } else { 5 }) {
                let t = Instant::now();
                cqrs.execute("big", CCmd::Deposit(1))
                    .await
                    .expect("execute");
                m.lat.push(t.elapsed().as_nanos() as u64);
                m.ops += 1;
            }
            m.finish()
        })
    });
    let p50 = m.pct(0.5).unwrap_or(Duration::ZERO).as_secs_f64();
    let row = Row::value(
        &workload,
        "cqrs-es MemStore, one command",
        n as f64 / p50,
        "events/s",
    )
    .lat(m.pct(0.5), m.pct(0.99))
    .note("what every cqrs-es command on this aggregate costs: a full replay");
    crate::progress(Some(&row));
    rows.push(row);
    rows
}
