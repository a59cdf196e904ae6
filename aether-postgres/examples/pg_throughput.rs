//! Throughput and latency of `PostgresStore`, beside the raw limits of the same server.
//!
//! ```text
//! cargo run --release -p aether-postgres --example pg_throughput
//! ```
//!
//! Server: `AETHER_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! `AETHER_PG_WRITERS` sets the store's group-commit writers (default 2). The
//! run uses a schema of its own and drops it at the end. Scenarios:
//!
//! - store, 1 actor sequential: one `save_event` at a time;
//! - store, 1,000 actors concurrent: one task per actor, each appending one event at a
//!   time (group commit mixes them);
//! - raw sequential: one prepared single-row INSERT per append, on one connection;
//! - raw batched: 8 connections, each inserting UNNEST batches of 125 rows (1,000 events in
//!   flight, as with 1,000 actors) into a table shaped like `events`, without any version
//!   check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{Event, EventStore};
use aether_postgres::PostgresStore;
use chrono::Utc;
use serde_json::json;
use tokio_postgres::NoTls;

const SEQUENTIAL: usize = 2_000;
const ACTORS: usize = 1_000;
const PER_ACTOR: usize = 30;
const RAW_CONNECTIONS: usize = 8;
const RAW_BATCH: usize = ACTORS / RAW_CONNECTIONS;

#[derive(Debug)]
struct Figures {
    events_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn figures(events: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Figures {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        events_per_sec: events as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn print(name: &str, f: &Figures) {
    println!(
        "{name:<40} {:>10.0} events/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
        f.events_per_sec,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
}

fn event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("{actor}-{version}"),
        event_type: "Deposited".into(),
        actor_id: actor.into(),
        command_id: Some(format!("cmd-{version}")),
        version,
        data: json!({ "amount": 100, "currency": "EUR" }),
        timestamp: Utc::now(),
    }
}

async fn store_sequential(store: &PostgresStore) -> Figures {
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let started = Instant::now();
    for v in 1..=SEQUENTIAL as i64 {
        let e = event("sequential", v);
        let t = Instant::now();
        store.save_event(&e).await.expect("append");
        latencies.push(t.elapsed());
    }
    figures(SEQUENTIAL, started.elapsed(), latencies)
}

async fn store_concurrent(store: &PostgresStore, tag: &str) -> Figures {
    let started = Instant::now();
    let tasks: Vec<_> = (0..ACTORS)
        .map(|i| {
            let store = store.clone();
            let actor = format!("{tag}-{i}");
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(PER_ACTOR);
                for v in 1..=PER_ACTOR as i64 {
                    let e = event(&actor, v);
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
    figures(ACTORS * PER_ACTOR, started.elapsed(), latencies)
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

const RAW_COLUMNS: &str =
    "actor_id, version, event_id, event_type, command_id, data, recorded_at, recorded_nanos";

async fn raw_sequential(url: &str, schema: &str) -> Figures {
    let client = raw_client(url).await;
    let insert = client
        .prepare(&format!(
            "INSERT INTO \"{schema}\".raw_events ({RAW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .await
        .unwrap();
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let started = Instant::now();
    for v in 1..=SEQUENTIAL as i64 {
        let e = event("raw-sequential", v);
        let t = Instant::now();
        client
            .execute(
                &insert,
                &[
                    &e.actor_id,
                    &e.version,
                    &e.id,
                    &e.event_type,
                    &e.command_id,
                    &e.data,
                    &e.timestamp,
                    &0_i32,
                ],
            )
            .await
            .unwrap();
        latencies.push(t.elapsed());
    }
    figures(SEQUENTIAL, started.elapsed(), latencies)
}

async fn raw_batched(url: &str, schema: &str) -> Figures {
    let total_batches = ACTORS * PER_ACTOR / RAW_BATCH;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sql = Arc::new(format!(
        "INSERT INTO \"{schema}\".raw_events ({RAW_COLUMNS}) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::jsonb[], $7::timestamptz[], $8::integer[])"
    ));
    let started = Instant::now();
    let tasks: Vec<_> = (0..RAW_CONNECTIONS)
        .map(|c| {
            let (url, sql, next) = (url.to_owned(), Arc::clone(&sql), Arc::clone(&next));
            tokio::spawn(async move {
                let client = raw_client(&url).await;
                let insert = client.prepare(&sql).await.unwrap();
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total_batches {
                        return latencies;
                    }
                    let events: Vec<Event> = (0..RAW_BATCH)
                        .map(|i| event(&format!("raw-{c}-{i}"), n as i64 + 1))
                        .collect();
                    let actor: Vec<&str> = events.iter().map(|e| e.actor_id.as_str()).collect();
                    let version: Vec<i64> = events.iter().map(|e| e.version).collect();
                    let id: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
                    let kind: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
                    let command: Vec<Option<&str>> =
                        events.iter().map(|e| e.command_id.as_deref()).collect();
                    let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
                    let at: Vec<_> = events.iter().map(|e| e.timestamp).collect();
                    let nanos = vec![0_i32; RAW_BATCH];
                    let t = Instant::now();
                    client
                        .execute(
                            &insert,
                            &[&actor, &version, &id, &kind, &command, &data, &at, &nanos],
                        )
                        .await
                        .unwrap();
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    figures(total_batches * RAW_BATCH, started.elapsed(), latencies)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("AETHER_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("aether_bench_{}", std::process::id());
    let writers: usize = std::env::var("AETHER_PG_WRITERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let store = match PostgresStore::builder(url.clone())
        .schema(schema.clone())
        .application_name("aether_bench")
        .writers(writers)
        .connect()
        .await
    {
        Ok(store) => store,
        Err(err) => {
            eprintln!("pg_throughput: {err}");
            std::process::exit(1);
        }
    };
    let admin = raw_client(&url).await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".raw_events (LIKE \"{schema}\".events INCLUDING ALL)"
        ))
        .await
        .unwrap();
    println!("{store:?}");
    println!(
        "store: 1 actor x {SEQUENTIAL} sequential; {ACTORS} actors x {PER_ACTOR} concurrent; \
         raw: {SEQUENTIAL} single-row INSERTs; UNNEST batches of {RAW_BATCH} over {RAW_CONNECTIONS} connections\n"
    );

    // Warm up connections and statement caches.
    let _ = store_concurrent(&store, "warmup").await;

    let seq = store_sequential(&store).await;
    print("store, 1 actor sequential", &seq);
    let conc = store_concurrent(&store, "actor").await;
    print("store, 1000 actors concurrent", &conc);
    let raw_seq = raw_sequential(&url, &schema).await;
    print("raw prepared INSERT, sequential", &raw_seq);
    let raw_batch = raw_batched(&url, &schema).await;
    print("raw UNNEST batches, 8 connections", &raw_batch);
    println!();
    println!(
        "1 actor sequential:    store p50 / raw INSERT p50   = {:.2}x   (events/s ratio {:.2})",
        seq.p50.as_secs_f64() / raw_seq.p50.as_secs_f64(),
        seq.events_per_sec / raw_seq.events_per_sec
    );
    println!(
        "1000 actors:           store / raw batched events/s = {:.2}x",
        conc.events_per_sec / raw_batch.events_per_sec
    );

    drop(store);
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
