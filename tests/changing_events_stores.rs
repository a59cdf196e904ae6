//! Old-shape rows, written the way older builds wrote them, read by today's actor on
//! every store: a renamed type, a renamed field, a field added with a default, a field
//! whose unit changed, a removed type mapped to another, and a snapshot of an old state
//! shape. Rehydration and `aether::decode_event` (what tools use) see today's shape.
//! PostgreSQL and NATS as in the other cross-store tests (a fresh schema / namespace,
//! dropped at the end; skipped with a message when unreachable, unless `CI=true`).
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "macros",
    feature = "testkit"
))]

#[allow(dead_code)]
#[path = "../examples/changing_events.rs"]
mod changing_events;
mod reliability_common;

use std::sync::Arc;
use std::time::Duration;

use aether::postgres::PostgresStore;
use aether::sqlite::SqliteStore;
use aether::{decode_event, InMemoryStore, Runtime, SnapshotStore};
use changing_events::{Cart, CartCommands, CartEvent};
use reliability_common::servers;

/// (name, store, guards that clean up when the test ends)
type Under = (
    &'static str,
    Arc<dyn SnapshotStore>,
    Vec<Box<dyn std::any::Any>>,
);

async fn stores(dir: &tempfile::TempDir) -> Vec<Under> {
    let mut out: Vec<Under> = vec![("in-memory", Arc::new(InMemoryStore::new()), Vec::new())];
    let sqlite = SqliteStore::open(dir.path().join("evolve.db"))
        .await
        .unwrap();
    out.push(("sqlite", Arc::new(sqlite), Vec::new()));
    if let Some(url) = reliability_common::pg_url() {
        let schema = reliability_common::fresh_schema("aether_evolve");
        let guard = servers::SchemaGuard(schema.clone());
        let store = PostgresStore::builder(url)
            .schema(schema)
            .max_connections(2)
            .connect()
            .await
            .expect("connect to PostgreSQL");
        out.push(("postgres", Arc::new(store), vec![Box::new(guard)]));
    }
    let namespace = servers::nats_namespace("evolve");
    let connected = aether::nats::NatsStore::builder(servers::nats_url())
        .namespace(&namespace)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    match connected {
        Ok(store) => {
            let guard = servers::NamespaceGuard(namespace);
            out.push(("nats", Arc::new(store), vec![Box::new(guard)]));
        }
        Err(err) => servers::unreachable("NATS", err),
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_serves_old_shapes_in_todays_shape() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store, _guards) in stores(&dir).await {
        let actor_id = "Cart|c-1";
        changing_events::seed_old_history(store.as_ref(), actor_id).await;

        // Tools: each stored row decodes to today's event.
        let stored = store.get_events(actor_id, 1).await.unwrap();
        let decoded: Vec<CartEvent> = stored
            .iter()
            .map(|event| decode_event::<Cart>(event).unwrap())
            .collect();
        assert_eq!(
            decoded,
            vec![
                CartEvent::LineAdded {
                    sku: "a-1".into(),
                    quantity: 1,
                    cents: 1250
                },
                CartEvent::LineAdded {
                    sku: "b-2".into(),
                    quantity: 2,
                    cents: 305
                },
                CartEvent::CouponApplied { percent: 10 },
            ],
            "{name}: decoded through the upcasters"
        );
        // The rows themselves are as the old builds wrote them.
        assert_eq!(stored[0].event_type, "ItemAdded", "{name}");
        assert_eq!(stored[1].data["qty"], 2, "{name}");

        // Rehydration: the v2 snapshot is discarded, the events replayed.
        let runtime = Runtime::new(store.clone());
        let cart = runtime.actor::<Cart>("c-1");
        assert_eq!(
            cart.total().await.unwrap(),
            (1250 + 610) * 90 / 100,
            "{name}"
        );
        cart.add("c-3".into(), 1, 90).await.unwrap();
        runtime.shutdown().await;
        // New events are written in today's shape, and a fresh runtime reads the mix.
        let last = store.get_events(actor_id, 4).await.unwrap();
        assert_eq!(last[0].event_type, "LineAdded", "{name}");
        assert_eq!(last[0].data["quantity"], 1, "{name}");
        let runtime = Runtime::new(store.clone());
        let total = runtime.actor::<Cart>("c-1").total().await.unwrap();
        assert_eq!(total, (1250 + 610 + 90) * 90 / 100, "{name}");
        runtime.shutdown().await;
    }
}
