//! Old-shape rows, written the way older builds wrote them, read by today's actor on
//! every store: a renamed type, a renamed field, a field added with a default, a field
//! whose unit changed, a removed type mapped to another, and a snapshot of an old state
//! shape, and a field split into two. Rehydration, `aether::decode_event` (what tools
//! use), the feed and a projection all see today's shape.
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

use aether::feed::{
    AtLeastOnce, CheckpointStore, EventFeed, FeedEvent, FeedFilter, HandlerError, Position,
    Projection,
};
use aether::postgres::PostgresStore;
use aether::projection::{self, ProjectionOptions};
use aether::sqlite::SqliteStore;
use aether::{decode_event, InMemoryStore, Runtime, SnapshotStore};
use changing_events::{Cart, CartCommands, CartEvent};
use reliability_common::servers;

/// One store under test, through each trait the test uses.
struct Under {
    name: &'static str,
    store: Arc<dyn SnapshotStore>,
    feed: Arc<dyn EventFeed>,
    checkpoints: Arc<dyn CheckpointStore>,
    /// Guards that clean up when the test ends.
    _guards: Vec<Box<dyn std::any::Any>>,
}

fn under<S>(name: &'static str, store: S, guards: Vec<Box<dyn std::any::Any>>) -> Under
where
    S: SnapshotStore + EventFeed + CheckpointStore,
{
    let store = Arc::new(store);
    Under {
        name,
        store: store.clone(),
        feed: store.clone(),
        checkpoints: store,
        _guards: guards,
    }
}

async fn stores(dir: &tempfile::TempDir) -> Vec<Under> {
    let mut out: Vec<Under> = vec![under("in-memory", InMemoryStore::new(), Vec::new())];
    let sqlite = SqliteStore::open(dir.path().join("evolve.db"))
        .await
        .unwrap();
    out.push(under("sqlite", sqlite, Vec::new()));
    if let Some(url) = reliability_common::pg_url() {
        let schema = reliability_common::fresh_schema("aether_evolve");
        let guard = servers::SchemaGuard(schema.clone());
        let store = PostgresStore::builder(url)
            .schema(schema)
            .max_connections(2)
            .connect()
            .await
            .expect("connect to PostgreSQL");
        out.push(under("postgres", store, vec![Box::new(guard)]));
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
            out.push(under("nats", store, vec![Box::new(guard)]));
        }
        Err(err) => servers::unreachable("NATS", err),
    }
    out
}

/// A projection that decodes every cart event it is fed, through the upcasters.
#[derive(Clone, Default)]
struct Projected(Arc<std::sync::Mutex<Vec<CartEvent>>>);

#[aether::async_trait]
impl Projection for Projected {
    async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
        let decoded = decode_event::<Cart>(&event.event)?;
        self.0.lock().unwrap().push(decoded);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_serves_old_shapes_in_todays_shape() {
    let dir = tempfile::tempdir().unwrap();
    for Under {
        name,
        store,
        feed,
        checkpoints,
        _guards,
    } in stores(&dir).await
    {
        let actor_id = "Cart|c-1";
        changing_events::seed_old_history(store.as_ref(), actor_id).await;

        // Tools: each stored row decodes to today's event.
        let stored = store.get_events(actor_id, 1).await.unwrap();
        let decoded: Vec<CartEvent> = stored
            .iter()
            .map(|event| decode_event::<Cart>(event).unwrap())
            .collect();
        // The feed gives the same rows, and a projection decodes them the same way.
        let fed = feed
            .read_feed(Position::START, &FeedFilter::all().actor_type("Cart"), 100)
            .await
            .unwrap();
        let fed: Vec<_> = fed.events.into_iter().map(|e| e.event).collect();
        assert_eq!(fed, stored, "{name}: the feed holds the stored rows");
        let projected = Projected::default();
        let running = projection::spawn(
            "evolve",
            feed.clone(),
            AtLeastOnce::new(projected.clone(), checkpoints.clone()),
            ProjectionOptions::new().filter(FeedFilter::all().actor_type("Cart")),
        );
        running.wait_for_head().await.unwrap();
        running.stop().await;
        assert_eq!(
            *projected.0.lock().unwrap(),
            decoded,
            "{name}: a projection sees today's shapes"
        );
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
                CartEvent::LineAdded {
                    sku: "d-4".into(),
                    quantity: 3,
                    cents: 200
                },
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
            (1250 + 610 + 600) * 90 / 100,
            "{name}"
        );
        cart.add("c-3".into(), 1, 90).await.unwrap();
        runtime.shutdown().await;
        // New events are written in today's shape, and a fresh runtime reads the mix.
        let last = store.get_events(actor_id, 5).await.unwrap();
        assert_eq!(last[0].event_type, "LineAdded", "{name}");
        assert_eq!(last[0].data["quantity"], 1, "{name}");
        let runtime = Runtime::new(store.clone());
        let total = runtime.actor::<Cart>("c-1").total().await.unwrap();
        assert_eq!(total, (1250 + 610 + 600 + 90) * 90 / 100, "{name}");
        runtime.shutdown().await;
    }
}
