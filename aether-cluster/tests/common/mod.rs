//! Shared pieces of the cluster's tests: a counter actor whose commands, replies and
//! errors are serde, a fresh namespace per test, and the NATS reachability rule (under
//! `CI=true` an unreachable NATS fails the test; elsewhere it is skipped with a reason).
//! The first store of a test process sweeps what old runs left (the `aether-nats`
//! tests' sweeper: streams and buckets of old test namespaces, the cluster's included).
#![allow(dead_code, unreachable_pub)]

#[path = "../../../aether-nats/tests/common/sweep.rs"]
mod sweep;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aether_cluster::{Cluster, ClusterConfig};
use aether_nats::{ConnectError, NatsStore};
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A counter: `Add(n)` records `Added { n }`, `Get` reads, `Add` above 1,000 is refused.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Counter {
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CounterCmd {
    Add(u64),
    Get,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum CounterError {
    #[error("{n} is above the limit {limit}")]
    TooBig { n: u64, limit: u64 },
}

#[derive(Debug, Clone)]
pub struct Added(pub u64);

impl DomainEvent for Added {
    fn event_type(&self) -> &str {
        "Added"
    }
    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({ "n": self.0 }))
    }
    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        data["n"]
            .as_u64()
            .map(Added)
            .ok_or_else(|| EventDecodeError::invalid_data(event_type, "n is not a number"))
    }
}

impl EventSourced for Counter {
    const ACTOR_TYPE: &'static str = "Counter";
    type Command = CounterCmd;
    type Event = Added;
    type Reply = u64;
    type Error = CounterError;

    fn decide(&self, command: &CounterCmd) -> Result<Decision<Added, u64>, CounterError> {
        match command {
            CounterCmd::Add(n) if *n > 1_000 => Err(CounterError::TooBig {
                n: *n,
                limit: 1_000,
            }),
            CounterCmd::Add(n) => Ok(Decision::new(vec![Added(*n)], self.total + n)),
            CounterCmd::Get => Ok(Decision::reply(self.total)),
        }
    }

    fn apply(&mut self, event: &Added) {
        self.total += event.0;
    }
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A namespace no other test uses.
pub fn fresh_namespace(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "test-{secs}-{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on `namespace`; `None` (after printing why) when NATS is unreachable and
/// `CI` is not `true`.
///
/// # Panics
///
/// When NATS is unreachable and `CI=true`.
pub async fn store(namespace: &str) -> Option<NatsStore> {
    match NatsStore::builder(nats_url())
        .namespace(namespace)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(store) => {
            static SWEPT: AtomicBool = AtomicBool::new(false);
            if !SWEPT.swap(true, Ordering::SeqCst) {
                sweep::sweep_old_test_streams(store.client()).await;
            }
            Some(store)
        }
        Err(err @ (ConnectError::Unreachable { .. } | ConnectError::Timeout { .. })) => {
            if under_ci() {
                panic!("CI=true and NATS is not reachable at {}: {err}", nats_url());
            }
            eprintln!("skipping: NATS is not reachable at {}: {err}", nats_url());
            None
        }
        Err(err) => panic!("NATS is reachable but the store cannot be set up: {err}"),
    }
}

/// Fast timings for tests.
pub fn fast() -> ClusterConfig {
    ClusterConfig::default()
        .shard_count(64)
        .heartbeat_interval(Duration::from_millis(100))
        .failover_timeout(Duration::from_millis(800))
        .ask_timeout(Duration::from_secs(5))
}

/// Member `node` on `namespace` serving `Counter`.
pub async fn member(namespace: &str, node: &str, config: ClusterConfig) -> Cluster {
    let store = store(namespace).await.expect("NATS reachable");
    Cluster::builder(store, node)
        .config(config)
        .register::<Counter>()
        .join()
        .await
        .unwrap_or_else(|err| panic!("{node} cannot join: {err}"))
}

/// Deletes the namespace's stream, buckets and the cluster's buckets.
pub async fn cleanup(namespace: &str) {
    let Some(store) = store(namespace).await else {
        return;
    };
    aether_cluster::delete_buckets(&store).await;
    let _ = store.delete_namespace().await;
}

/// Waits until each of `members` sees exactly `nodes` placed (10 s at most), failing with
/// what it sees instead.
pub async fn all_see(members: &[&Cluster], nodes: &[&str]) {
    for m in members {
        assert!(
            m.wait_for_members(nodes, Duration::from_secs(10)).await,
            "{} sees {:?}, not {nodes:?}",
            m.node(),
            m.members()
        );
    }
}
