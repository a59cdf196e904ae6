//! Connecting: unreachable servers fail fast and clearly, bad settings are refused, the
//! schema is created and migrated once however many processes connect at once, and a
//! store can be built on an existing pool.

mod common;

use std::time::{Duration, Instant};

use aether_core::EventStore;
use aether_postgres::driver::{Manager, Pool};
use aether_postgres::{ConnectError, PostgresStore};
use serde_json::json;

#[tokio::test]
async fn unreachable_port_is_a_clear_error_without_hanging() {
    let started = Instant::now();
    let result = PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    let elapsed = started.elapsed();
    match result {
        Err(err @ ConnectError::Unreachable { .. }) => {
            let text = err.to_string();
            assert!(text.contains("127.0.0.1:1"), "names the target: {text}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn silent_address_fails_within_the_connect_timeout() {
    // 10.255.255.1 normally drops packets (or is unroutable): either way a bounded error.
    let started = Instant::now();
    let result = PostgresStore::builder("postgres://postgres@10.255.255.1:5432/test")
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(
        matches!(result, Err(ConnectError::Unreachable { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    for (builder, what) in [
        (PostgresStore::builder("postgres://[bad"), "url"),
        (
            PostgresStore::builder(common::url()).schema(""),
            "empty schema",
        ),
        (
            PostgresStore::builder(common::url()).schema("a\0b"),
            "NUL schema",
        ),
        (
            PostgresStore::builder(common::url()).schema("x".repeat(64)),
            "long schema",
        ),
        (
            PostgresStore::builder(common::url()).schema("pg_catalog"),
            "pg_ schema",
        ),
    ] {
        match builder.connect().await {
            Err(ConnectError::Config { .. }) => {}
            other => panic!("{what}: expected Config, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_connecting_at_once_migrate_once() {
    let (_, schema, app) = common::fresh_builder();
    let connects: Vec<_> = (0..8)
        .map(|_| {
            let (schema, app) = (schema.clone(), app.clone());
            tokio::spawn(async move {
                PostgresStore::builder(common::url())
                    .schema(schema)
                    .application_name(app)
                    .max_connections(2)
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await
            })
        })
        .collect();
    let mut stores = Vec::new();
    for connect in connects {
        match connect.await.unwrap() {
            Ok(store) => stores.push(store),
            Err(ConnectError::Unreachable { source, .. }) => {
                return common::unreachable("connect", source).unwrap_or(());
            }
            Err(err) => panic!("concurrent connect failed: {err}"),
        }
    }
    let _cleanup = Cleanup(schema.clone());
    stores[3]
        .save_event(&common::event("a", 1, json!({})))
        .await
        .unwrap();
    assert_eq!(stores[5].get_latest_version("a").await.unwrap(), 1);
    let admin = common::raw_client().await;
    let version: i32 = admin
        .query_one(
            &format!("SELECT version FROM \"{schema}\".schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(i64::from(version), aether_postgres::SCHEMA_VERSION);
    assert_eq!(stores[0].schema(), schema);
    let debug = format!("{:?}", stores[0]);
    assert!(
        debug.contains(&schema) && !debug.contains("password"),
        "{debug}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_a_newer_version_is_refused() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let admin = common::raw_client().await;
    admin
        .batch_execute(&format!(
            "UPDATE \"{}\".schema_version SET version = 99",
            test.schema
        ))
        .await
        .unwrap();
    match PostgresStore::builder(common::url())
        .schema(test.schema.clone())
        .connect()
        .await
    {
        Err(ConnectError::NewerSchema {
            found: 99,
            supported,
            ..
        }) if supported == aether_postgres::SCHEMA_VERSION => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_can_be_built_on_an_existing_pool() {
    let (_, schema, _) = common::fresh_builder();
    let config: tokio_postgres::Config = common::url().parse().unwrap();
    let pool = Pool::builder(Manager::new(config, tokio_postgres::NoTls))
        .max_size(4)
        .build()
        .unwrap();
    let store = match PostgresStore::builder_from_pool(pool.clone())
        .schema(schema.clone())
        .connect()
        .await
    {
        Ok(store) => store,
        Err(err) => return common::unreachable("connect", err).unwrap_or(()),
    };
    let _cleanup = Cleanup(schema);
    store
        .save_event(&common::event("pooled", 1, json!({ "x": 1 })))
        .await
        .unwrap();
    // The caller's pool is the store's pool.
    let client = pool.get().await.unwrap();
    let count: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".events", store.schema()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::drop_schema_blocking(&self.0);
    }
}
