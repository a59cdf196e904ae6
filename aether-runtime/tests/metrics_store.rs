//! The runtime's gauges and histograms (feature `metrics`): live actors, mailbox depth,
//! store latency by operation, recorded with `metrics-util`'s debugging recorder.
#![cfg(feature = "metrics")]

use std::convert::Infallible;
use std::sync::Arc;

use aether_core::InMemoryStore;
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced, Runtime};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
struct Bumped;

impl DomainEvent for Bumped {
    fn event_type(&self) -> &str {
        "Bumped"
    }
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        Ok(serde_json::json!({}))
    }
    fn from_data(event_type: &str, _: &serde_json::Value) -> Result<Self, EventDecodeError> {
        match event_type {
            "Bumped" => Ok(Bumped),
            other => Err(EventDecodeError::unknown_type(other)),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

impl EventSourced for Counter {
    const ACTOR_TYPE: &'static str = "Counter";
    type Command = ();
    type Event = Bumped;
    type Reply = u64;
    type Error = Infallible;

    fn decide(&self, _: &()) -> Result<Decision<Bumped, u64>, Infallible> {
        Ok(Decision::new(vec![Bumped], self.count + 1))
    }
    fn apply(&mut self, _: &Bumped) {
        self.count += 1;
    }
}

/// One metric: name, labels, value.
type Metric = (String, Vec<(String, String)>, DebugValue);

/// Every metric of the snapshot.
fn values(snapshotter: &Snapshotter) -> Vec<Metric> {
    snapshotter
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
        .collect()
}

#[test]
fn live_actors_mailbox_depth_and_store_latency_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (live_while_running, after) = metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = Arc::new(InMemoryStore::new());
                let runtime = Runtime::builder(store).snapshot_every(2).build();
                let a = runtime.actor::<Counter>("a");
                let b = runtime.actor::<Counter>("b");
                // Queued behind each other: the actor takes them with others waiting.
                for _ in 0..5 {
                    a.tell(()).await.unwrap();
                }
                assert_eq!(a.ask(()).await.unwrap(), 6);
                assert_eq!(b.ask(()).await.unwrap(), 1);
                let live = values(&snapshotter);
                runtime.shutdown().await;
                (live, values(&snapshotter))
            })
    });

    let gauge = |values: &[Metric]| {
        values.iter().find_map(|(name, labels, value)| match value {
            DebugValue::Gauge(g) if name == "aether_live_actors" => {
                assert_eq!(labels, &[("actor_type".to_owned(), "Counter".to_owned())]);
                Some(g.into_inner())
            }
            _ => None,
        })
    };
    assert_eq!(gauge(&live_while_running), Some(2.0), "two actors running");
    assert_eq!(gauge(&after), Some(0.0), "none after shutdown");

    // A snapshot drains the histograms: their samples are in both snapshots together.
    let histogram = |name: &str, operation: Option<&str>| -> Vec<f64> {
        live_while_running
            .iter()
            .chain(&after)
            .filter(|(n, labels, _)| {
                n == name
                    && labels.contains(&("actor_type".to_owned(), "Counter".to_owned()))
                    && operation
                        .is_none_or(|op| labels.contains(&("operation".to_owned(), op.to_owned())))
            })
            .flat_map(|(_, _, v)| match v {
                DebugValue::Histogram(h) => h.iter().map(|x| x.into_inner()).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    // 7 commands taken; the first ones of `a` had others queued behind them.
    let depths = histogram("aether_mailbox_depth", None);
    assert_eq!(depths.len(), 7, "{depths:?}");
    assert!(depths.iter().any(|d| *d >= 1.0), "{depths:?}");
    // One append for `a`'s six queued commands (issue 15: batched), one for `b`'s; each
    // actor read its snapshot and events once on start.
    assert_eq!(histogram("aether_store_seconds", Some("append")).len(), 2);
    assert_eq!(
        histogram("aether_store_seconds", Some("read_snapshot")).len(),
        2
    );
    assert_eq!(
        histogram("aether_store_seconds", Some("read_events")).len(),
        2
    );
    // Snapshots every 2 events: `a` reached 6 (up to 3 snapshots: one due while another
    // is still being written is skipped), `b` 1 (none).
    let saves = histogram("aether_store_seconds", Some("save_snapshot")).len();
    assert!((1..=3).contains(&saves), "{saves}");
    assert!(histogram("aether_store_seconds", None)
        .iter()
        .all(|s| *s >= 0.0 && *s < 60.0));
}
