//! cqrs-es + postgres-es under the same workload and client driver as aether-bench.
//!
//! `cqrs-pg URL SCHEMA ACTORS SECS` creates postgres-es's `events` and `snapshots` tables
//! in SCHEMA (which must exist), runs ACTORS clients, each executing deposits on its own
//! aggregate for SECS seconds (after a warm-up), and prints
//! `CQRSPG ops secs p50_ns p99_ns`.
#![allow(dead_code)]

#[path = "../../src/client.rs"]
mod client;
#[path = "../../src/cqrs_domain.rs"]
mod cqrs_domain;
#[path = "../../src/stats.rs"]
mod stats;

use std::sync::Arc;
use std::time::Duration;

use cqrs_domain::{CAccount, CqrsClient};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, schema, actors, secs] = &args[..] else {
        eprintln!("usage: cqrs-pg URL SCHEMA ACTORS SECS");
        std::process::exit(2);
    };
    let actors: usize = actors.parse().expect("actors");
    let dur = Duration::from_secs_f64(secs.parse().expect("secs"));
    let m = client::new_rt().block_on(async {
        let pool = postgres_es::default_postgress_pool(url).await;
        sqlx::raw_sql(&format!(
            "CREATE TABLE IF NOT EXISTS \"{schema}\".cqrs_events (
                aggregate_type text NOT NULL, aggregate_id text NOT NULL,
                sequence bigint CHECK (sequence >= 0) NOT NULL,
                event_type text NOT NULL, event_version text NOT NULL,
                payload json NOT NULL, metadata json NOT NULL,
                PRIMARY KEY (aggregate_type, aggregate_id, sequence));
             CREATE TABLE IF NOT EXISTS \"{schema}\".cqrs_snapshots (
                aggregate_type text NOT NULL, aggregate_id text NOT NULL,
                last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
                current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
                payload json NOT NULL,
                PRIMARY KEY (aggregate_type, aggregate_id, last_sequence));"
        ))
        .execute(&pool)
        .await
        .expect("create tables");
        // postgres_cqrs's store (all events loaded per command), on the schema's tables.
        let repo = postgres_es::PostgresEventRepository::new(pool).with_tables(
            &format!("\"{schema}\".cqrs_events"),
            &format!("\"{schema}\".cqrs_snapshots"),
        );
        let store = cqrs_es::persist::PersistedEventStore::<_, CAccount>::new_event_store(repo);
        let cqrs = Arc::new(cqrs_es::CqrsFramework::new(store, vec![], ()));
        let clients = (0..actors)
            .map(|i| CqrsClient {
                cqrs: Arc::clone(&cqrs),
                id: format!("acc{actors}-{i}"),
            })
            .collect();
        client::warm_then_run(clients, dur).await
    });
    println!(
        "CQRSPG {} {} {} {}",
        m.ops,
        m.secs,
        m.pct(0.5).map_or(0, |d| d.as_nanos()),
        m.pct(0.99).map_or(0, |d| d.as_nanos())
    );
}
