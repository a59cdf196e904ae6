//! Row 2: cost as history grows, one actor: commands 1–W vs the last W of 10·W.

use std::sync::Arc;

use aether_core::InMemoryStore;
use aether_runtime::Runtime;

use crate::domain::*;
use crate::harness::{new_rt, run_n, with_stdout_silenced};
use crate::stats::{Measured, Row};
use crate::Config;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `reps` fresh actors through `total` sequential deposits each; returns the
/// early-window and late-window measurements (rates: median over reps; latencies merged).
async fn windows<C: Client>(
    mut make: impl FnMut(usize) -> C,
    reps: usize,
    window: usize,
    total: usize,
) -> (Measured, Measured, f64, f64) {
    let (mut early, mut late) = (Measured::default(), Measured::default());
    let (mut early_rates, mut late_rates) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let mut client = make(rep);
        let e = run_n(&mut client, window).await;
        let _ = run_n(&mut client, total - 2 * window).await;
        let l = run_n(&mut client, window).await;
        early_rates.push(e.rate());
        late_rates.push(l.rate());
        early.ops += e.ops;
        early.secs += e.secs;
        early.lat.extend(e.lat);
        late.ops += l.ops;
        late.secs += l.secs;
        late.lat.extend(l.lat);
    }
    (
        early.finish(),
        late.finish(),
        median(early_rates),
        median(late_rates),
    )
}

pub fn run(cfg: &Config) -> Vec<Row> {
    let w = cfg.history_window;
    let total = 10 * w;
    let early_name = format!("history: commands 1–{w}");
    let late_name = format!("history: commands {}–{total}", total - w + 1);
    let mut rows = Vec::new();

    let reps = if cfg.quick { 1 } else { 5 };
    // The client loop runs in a spawned task (on a worker), as in the other rows.
    let (e, l, er, lr) = new_rt().block_on(async {
        tokio::spawn(async move {
            let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
            let r = windows(
                |rep| AetherClient(runtime.actor::<Account>(format!("hist-{rep}"))),
                reps,
                w,
                total,
            )
            .await;
            runtime.shutdown().await;
            r
        })
        .await
        .expect("history task")
    });
    let early = Row::value(&early_name, "aether (InMemoryStore)", er, "ops/s")
        .lat(e.pct(0.5), e.pct(0.99))
        .note(format!("median of {reps} fresh actors"));
    let late = Row::value(&late_name, "aether (InMemoryStore)", lr, "ops/s")
        .lat(l.pct(0.5), l.pct(0.99))
        .vs(er, "1st window")
        .note(format!("median of {reps} fresh actors"));
    crate::progress(Some(&early));
    crate::progress(Some(&late));
    rows.push(early);
    rows.push(late);

    let (e, l, er, lr) = with_stdout_silenced(|| {
        new_rt().block_on(async {
            tokio::spawn(async move {
                let cqrs = cqrs_mem();
                windows(
                    |rep| CqrsClient {
                        cqrs: Arc::clone(&cqrs),
                        id: format!("hist-{rep}"),
                    },
                    1,
                    w,
                    total,
                )
                .await
            })
            .await
            .expect("history task")
        })
    });
    let early = Row::value(&early_name, "cqrs-es MemStore", er, "ops/s")
        .lat(e.pct(0.5), e.pct(0.99))
        .note("1 aggregate");
    let late = Row::value(&late_name, "cqrs-es MemStore", lr, "ops/s")
        .lat(l.pct(0.5), l.pct(0.99))
        .vs(er, "1st window")
        .note("replays the whole history per command");
    crate::progress(Some(&early));
    crate::progress(Some(&late));
    rows.push(early);
    rows.push(late);
    rows
}
