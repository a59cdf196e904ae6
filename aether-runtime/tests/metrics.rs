//! Metrics through the `metrics` facade (feature `metrics`).
#![cfg(feature = "metrics")]

mod common;

use std::sync::Arc;

use aether_runtime::Runtime;
use common::{Account, Cmd, TestStore};

#[test]
fn counters_and_histograms_go_through_the_metrics_facade() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let runtime = Runtime::new(Arc::new(TestStore::default()));
                let account = runtime.actor::<Account>("metered");
                account.ask(Cmd::Open).await.unwrap();
                account.ask(Cmd::deposit_many(1, 2)).await.unwrap();
                assert!(account.ask(Cmd::Withdraw(100)).await.is_err());
                runtime.shutdown().await;
            })
    });
    type Labels = Vec<(String, String)>;
    let values: Vec<(String, Labels, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    let counter = |name: &str, outcome: Option<&str>| -> u64 {
        values
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && outcome.is_none_or(|o| labels.iter().any(|(k, v)| k == "outcome" && v == o))
            })
            .map(|(_, _, v)| match v {
                DebugValue::Counter(c) => *c,
                _ => 0,
            })
            .sum()
    };
    assert_eq!(counter("aether_commands_total", Some("ok")), 2);
    assert_eq!(counter("aether_commands_total", Some("rejected")), 1);
    assert_eq!(counter("aether_events_persisted_total", None), 3);
    assert_eq!(counter("aether_rehydrations_total", None), 1);
    let asks = values
        .iter()
        .find(|(n, _, _)| n == "aether_ask_seconds")
        .map(|(_, _, v)| match v {
            DebugValue::Histogram(h) => h.len(),
            _ => 0,
        });
    assert_eq!(asks, Some(3));
}
