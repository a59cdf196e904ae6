//! Throughput and latency of `NatsStore` appends, beside the raw limit: plain async-nats
//! JetStream publishes of the same payloads, each awaiting its acknowledgement.
//!
//! ```text
//! cargo run --release -p aether-nats --example nats_throughput [-- <nats url>]
//! ```
//!
//! Scenarios (every append is one event, acknowledged before it counts):
//! - 1 actor, sequential: one append after the other;
//! - 1,000 actors, concurrent: 1,000 tasks, each appending to its own actor in sequence.
//!
//! The store does two round trips per append (read the subject's last message, then the
//! publish with `Nats-Expected-Last-Subject-Sequence`); the raw publish does one. Runs in
//! a fresh namespace, deleted at the end.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether_core::{Event, EventStore};
use aether_nats::NatsStore;
use async_nats::jetstream;
use serde_json::json;

const SEQUENTIAL: usize = 3_000;
const ACTORS: usize = 1_000;
const PER_ACTOR: usize = 10;

fn event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("0190a1b2-c3d4-7e5f-8a9b-{version:012}"),
        event_type: "Deposited".into(),
        actor_id: actor.into(),
        command_id: Some(format!("cmd-{version}")),
        version,
        data: json!({ "amount": 100, "currency": "EUR", "note": "benchmark event" }),
        timestamp: chrono::Utc::now(),
    }
}

struct Figures {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn new(events: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        Figures {
            events,
            elapsed,
            latencies,
        }
    }
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies[index.min(self.latencies.len() - 1)]
    }
    fn print(&self, name: &str) {
        println!(
            "{name:<44} {:>9.0} ev/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
}

async fn store_sequential(store: &NatsStore) -> Figures {
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let started = Instant::now();
    for version in 1..=SEQUENTIAL as i64 {
        let e = event("sequential", version);
        let t = Instant::now();
        store.save_event(&e).await.expect("append");
        latencies.push(t.elapsed());
    }
    Figures::new(SEQUENTIAL, started.elapsed(), latencies)
}

async fn store_concurrent(store: &NatsStore) -> Figures {
    let started = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|actor| {
            let store = store.clone();
            tokio::spawn(async move {
                let actor = format!("concurrent-{actor}");
                let mut latencies = Vec::with_capacity(PER_ACTOR);
                for version in 1..=PER_ACTOR as i64 {
                    let e = event(&actor, version);
                    let t = Instant::now();
                    store.save_event(&e).await.expect("append");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ACTORS * PER_ACTOR);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Figures::new(ACTORS * PER_ACTOR, started.elapsed(), latencies)
}

async fn raw_sequential(js: &jetstream::Context, prefix: &str, payload: &bytes::Bytes) -> Figures {
    let subject = format!("{prefix}raw-sequential");
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let started = Instant::now();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        js.publish(subject.clone(), payload.clone())
            .await
            .expect("publish")
            .await
            .expect("ack");
        latencies.push(t.elapsed());
    }
    Figures::new(SEQUENTIAL, started.elapsed(), latencies)
}

async fn raw_concurrent(js: &jetstream::Context, prefix: &str, payload: &bytes::Bytes) -> Figures {
    let started = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|actor| {
            let js = js.clone();
            let subject = format!("{prefix}raw-concurrent-{actor}");
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(PER_ACTOR);
                for _ in 0..PER_ACTOR {
                    let t = Instant::now();
                    js.publish(subject.clone(), payload.clone())
                        .await
                        .expect("publish")
                        .await
                        .expect("ack");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ACTORS * PER_ACTOR);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Figures::new(ACTORS * PER_ACTOR, started.elapsed(), latencies)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let store = NatsStore::builder(&url)
        .namespace(format!("bench-{secs}-{}", std::process::id()))
        .connect()
        .await?;
    let js = jetstream::new(store.client().clone());
    let prefix = store.layout().event_subject("x").unwrap();
    let prefix = prefix.trim_end_matches('x').to_owned();
    let payload: bytes::Bytes = serde_json::to_vec(&event("sequential", 1))?.into();
    println!(
        "nats-server {} at {url}; namespace {}; payload {} bytes per event; file storage, R1",
        store.client().server_info().version,
        store.namespace(),
        payload.len()
    );

    let raw_seq = raw_sequential(&js, &prefix, &payload).await;
    let store_seq = store_sequential(&store).await;
    let raw_conc = raw_concurrent(&js, &prefix, &payload).await;
    let store_conc = store_concurrent(&store).await;

    println!();
    raw_seq.print(&format!("raw publish+ack, 1 subject x {SEQUENTIAL}"));
    store_seq.print(&format!("NatsStore save_event, 1 actor x {SEQUENTIAL}"));
    raw_conc.print(&format!("raw publish+ack, {ACTORS} subjects x {PER_ACTOR}"));
    store_conc.print(&format!(
        "NatsStore save_event, {ACTORS} actors x {PER_ACTOR}"
    ));
    println!();
    println!(
        "store / raw throughput: sequential {:.2}, concurrent {:.2}",
        store_seq.rate() / raw_seq.rate(),
        store_conc.rate() / raw_conc.rate()
    );
    println!(
        "store / raw p50 latency: sequential {:.2}, concurrent {:.2}",
        store_seq.percentile(0.5).as_secs_f64() / raw_seq.percentile(0.5).as_secs_f64(),
        store_conc.percentile(0.5).as_secs_f64() / raw_conc.percentile(0.5).as_secs_f64()
    );

    // Reads: the sequential actor's history is 3,000 one-event messages, interleaved
    // with the other scenarios' messages in the stream.
    let started = Instant::now();
    let tail = store
        .get_events("sequential", SEQUENTIAL as i64 / 2 + 1)
        .await?;
    let middle = started.elapsed();
    assert_eq!(tail.len(), SEQUENTIAL / 2);
    let started = Instant::now();
    let all = store.get_events("sequential", 0).await?;
    let full = started.elapsed();
    assert_eq!(all.len(), SEQUENTIAL);
    let started = Instant::now();
    let last = store.get_events("sequential", SEQUENTIAL as i64).await?;
    let newest = started.elapsed();
    assert_eq!(last.len(), 1);
    println!(
        "get_events of a {SEQUENTIAL}-message history: from the middle {:.1} ms, whole {:.1} ms, newest only {:.3} ms",
        middle.as_secs_f64() * 1e3,
        full.as_secs_f64() * 1e3,
        newest.as_secs_f64() * 1e3
    );
    assert_eq!(
        store.get_latest_version("sequential").await?,
        SEQUENTIAL as i64
    );
    store.delete_namespace().await?;
    Ok(())
}
