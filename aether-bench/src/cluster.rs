//! `cluster`: aether-cluster on NATS (#13). Rows:
//!
//! - a local ask (the owner is the asking member: a call into its shard runtime) against
//!   a remote ask (NATS request/reply to the owner), one client sequential, p50/p99;
//! - throughput with 1 and with 3 members (members in this one process, each with its
//!   own NATS connection, sharing the machine's 2 cores with NATS itself), 64 clients
//!   spread over the members, each on its own actor;
//! - failover: a member *process* SIGKILLed and the time until its actors answer from
//!   the others, over 20 kills (5 with `--quick`), p50 and max (`cluster_failover.rs`).
//!
//! Every row stores through the NATS store (each command one JetStream publish), at
//! `AETHER_BENCH_NATS_URL` (default `nats://127.0.0.1:4222`), as the other NATS rows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_cluster::{Cluster, ClusterConfig};
use aether_nats::NatsStore;
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::new_rt;
use crate::stats::{Measured, Row};
use crate::stores::nats_url;
use crate::Config;

/// The actor of every cluster row: a sum.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Counter {
    n: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Add(pub(crate) u64);

#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("never")]
pub(crate) struct Never;

#[derive(Debug, Clone)]
pub(crate) struct Added(u64);

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
            .ok_or_else(|| EventDecodeError::invalid_data(event_type, "n"))
    }
}

impl EventSourced for Counter {
    const ACTOR_TYPE: &'static str = "Counter";
    type Command = Add;
    type Event = Added;
    type Reply = u64;
    type Error = Never;
    fn decide(&self, command: &Add) -> Result<Decision<Added, u64>, Never> {
        Ok(Decision::new(vec![Added(command.0)], self.n + command.0))
    }
    fn apply(&mut self, event: &Added) {
        self.n += event.0;
    }
}

/// Member `node` of the cluster on `namespace`, default timings, serving [`Counter`].
pub(crate) async fn member(namespace: &str, node: &str) -> Result<Cluster, String> {
    let store = NatsStore::builder(nats_url())
        .namespace(namespace)
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("NATS at {} unavailable: {e}", nats_url()))?;
    Cluster::builder(store, node)
        .config(ClusterConfig::default())
        .register::<Counter>()
        .join()
        .await
        .map_err(|e| e.to_string())
}

/// Deletes the cluster's buckets and the store's namespace (no member runs any more).
pub(crate) async fn cleanup(cluster: &Cluster) {
    aether_cluster::delete_buckets(cluster.store()).await;
    let _ = cluster.store().delete_namespace().await;
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, String> {
    let rt = new_rt();
    let mut rows = Vec::new();
    rows.extend(rt.block_on(local_vs_remote(cfg))?);
    rows.extend(rt.block_on(throughput(cfg))?);
    drop(rt);
    match crate::cluster_failover::run(cfg) {
        Ok(failover) => rows.extend(failover),
        Err(reason) => crate::skipped_part("cluster", format!("failover rows FAILED: {reason}")),
    }
    Ok(rows)
}

/// Sequential asks for `dur`, through `from`, to actor `id`.
async fn sequential(from: &Cluster, id: &str, dur: Duration) -> Measured {
    let actor = from.actor::<Counter>(id);
    // Warm up: the actor started on its owner, connections used.
    for _ in 0..50 {
        let _ = actor.ask(Add(1)).await;
    }
    let mut m = Measured::default();
    let start = Instant::now();
    while start.elapsed() < dur {
        let t = Instant::now();
        if actor.ask(Add(1)).await.is_ok() {
            m.ops += 1;
            m.lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    m.secs = start.elapsed().as_secs_f64();
    m.finish()
}

async fn local_vs_remote(cfg: &Config) -> Result<Vec<Row>, String> {
    let namespace = format!("bench-cluster-{}", std::process::id());
    let a = member(&namespace, "a").await?;
    let b = member(&namespace, "b").await?;
    if !a
        .wait_for_members(&["a", "b"], Duration::from_secs(10))
        .await
    {
        return Err("the two members did not see each other".to_owned());
    }
    let id = (0..1_000)
        .map(|i| format!("lr{i}"))
        .find(|id| a.actor::<Counter>(id).owner().as_deref() == Some("a"))
        .ok_or("no actor owned by a")?;
    let local = sequential(&a, &id, cfg.dur).await;
    let remote = sequential(&b, &id, cfg.dur).await;
    let wl = "cluster: ask on the NATS store, 1 actor, 1 client sequential";
    let local = Row::new(wl, "local ask (owner = asking member)", &local)
        .note("a call into the owner's shard runtime; the ask's cost is the store's publish");
    crate::progress(Some(&local));
    let remote = Row::new(wl, "remote ask (NATS request/reply to the owner)", &remote)
        .note("command and reply as JSON through the server; same store publish");
    crate::progress(Some(&remote));
    let base = local.value;
    let rows = vec![
        Row {
            ratio: Some((1.0, "ref".into())),
            ..local
        },
        remote.vs(base, "local"),
    ];
    for m in [&a, &b] {
        m.leave().await;
    }
    cleanup(&a).await;
    Ok(rows)
}

async fn throughput(cfg: &Config) -> Result<Vec<Row>, String> {
    let clients = 64usize;
    let mut rows = Vec::new();
    for members in [1usize, 3] {
        let namespace = format!("bench-cluster-tp{members}-{}", std::process::id());
        let mut cluster = Vec::new();
        for i in 0..members {
            cluster.push(member(&namespace, &format!("m{i}")).await?);
        }
        let names: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for m in &cluster {
            if !m.wait_for_members(&names, Duration::from_secs(10)).await {
                return Err(format!("{members} members did not see each other"));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let actor = cluster[c % members].actor::<Counter>(format!("tp{c}"));
            let (stop, ops) = (stop.clone(), ops.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let _ = actor.ask(Add(1)).await;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if actor.ask(Add(1)).await.is_ok() {
                        ops.fetch_add(1, Ordering::Relaxed);
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                }
                lat
            }));
        }
        // Warm-up, then the measured window.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = ops.load(Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(cfg.dur).await;
        let done = ops.load(Ordering::Relaxed) - before;
        let secs = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for task in tasks {
            lat.extend(task.await.unwrap_or_default());
        }
        let m = Measured {
            ops: done,
            secs,
            lat,
        }
        .finish();
        let wl = format!("cluster: {clients} clients, 1 actor each, spread over the members");
        let row = Row::new(
            wl,
            format!("{members} member(s) in one process, one NATS connection each"),
            &m,
        )
        .note(if members == 1 {
            "every ask local".to_owned()
        } else {
            "about 2/3 of the asks remote; members, NATS server and clients share 2 cores"
                .to_owned()
        });
        crate::progress(Some(&row));
        rows.push(row);
        for m in &cluster {
            m.leave().await;
        }
        cleanup(&cluster[0]).await;
    }
    let base = rows[0].value;
    rows[0].ratio = Some((1.0, "ref".into()));
    let three = rows.pop().expect("two rows").vs(base, "1 member");
    rows.push(three);
    Ok(rows)
}
