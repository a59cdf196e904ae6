//! Shared helpers of the PostgreSQL tests: a fresh schema per test, dropped afterwards,
//! and the backend-reachability rule.
//!
//! The server is `AETHER_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! When it cannot be reached, a test fails under `CI=true` and otherwise prints why and
//! skips (returns early), so `cargo test` passes on a machine without PostgreSQL.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aether_core::{
    async_trait, ActorSnapshot, CheckpointStore, Event, EventFeed, EventStore, FeedError,
    FeedFilter, FeedPage, FeedVisitor, Position, SnapshotStore, StoreError, VisitedPage,
};
use aether_postgres::{PostgresStore, PostgresStoreBuilder};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The test server's URL.
pub fn url() -> String {
    std::env::var("AETHER_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A name no other test (of this or any other run) uses, for schemas and application
/// names: `<prefix>_<unix seconds>_<pid>_<n>`, so that [`sweep_old_schemas`] can tell
/// its age.
pub fn unique_name(prefix: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{secs}_{}_{n}", std::process::id())
}

/// The prefix of the test schemas.
const SCHEMA_PREFIX: &str = "aether_test";

/// Leftovers older than this belong to no running test.
const SWEEP_AGE: Duration = Duration::from_secs(2 * 3600);

/// Drops the test schemas a killed run left behind (made more than [`SWEEP_AGE`] ago,
/// read from the name; older-format names carry the process id there, always long past);
/// once per test process. A test's own schema is dropped by [`TestStore`] when it ends.
async fn sweep_old_schemas(client: &tokio_postgres::Client) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(SWEEP_AGE)
        .as_secs();
    let Ok(rows) = client
        .query("SELECT nspname::text FROM pg_namespace", &[])
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let Some(rest) = name
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|r| r.strip_prefix('_'))
        else {
            continue;
        };
        let fields: Vec<&str> = rest.split('_').collect();
        let old = fields.len() == 3
            && fields
                .iter()
                .all(|f| f.bytes().all(|b| b.is_ascii_hexdigit()))
            && fields[0].parse::<u64>().is_ok_and(|secs| secs < cutoff);
        if old {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {quoted} CASCADE"))
                .await;
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Applies the reachability rule to a connect error: panics under CI, else prints and
/// returns `None`.
pub fn unreachable<T>(what: &str, err: impl std::fmt::Display) -> Option<T> {
    if in_ci() {
        panic!("CI=true and PostgreSQL is unreachable ({what}): {err}");
    }
    eprintln!("skipping: PostgreSQL is unreachable ({what}): {err}");
    None
}

/// A builder on a fresh schema and application name.
pub fn fresh_builder() -> (PostgresStoreBuilder, String, String) {
    let schema = unique_name(SCHEMA_PREFIX);
    let app = unique_name("aether_app");
    let builder = PostgresStore::builder(url())
        .schema(schema.clone())
        .application_name(app.clone())
        .connect_timeout(Duration::from_secs(5));
    (builder, schema, app)
}

/// A store on a fresh schema, dropped with it; `None` (after printing why) when the server
/// is unreachable outside CI.
pub async fn fresh_store() -> Option<TestStore> {
    let (builder, schema, app) = fresh_builder();
    match builder.connect().await {
        Ok(store) => {
            sweep_old_schemas(&raw_client().await).await;
            Some(TestStore { store, schema, app })
        }
        Err(err) => unreachable("connect", err),
    }
}

/// Connects another store (its own pool: another "process") to an existing schema.
pub async fn another_store(schema: &str, app: &str) -> PostgresStore {
    PostgresStore::builder(url())
        .schema(schema)
        .application_name(app)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connecting a second store to a reachable server")
}

/// A raw connection, for the tests' own SQL.
pub async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    client
}

/// Drops a schema, from a thread of its own (so it works in `Drop`, in any runtime).
pub fn drop_schema_blocking(schema: &str) {
    let schema = schema.to_owned();
    let joined = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to drop the test schema");
        runtime.block_on(async {
            let client = raw_client().await;
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            if let Err(err) = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {quoted} CASCADE"))
                .await
            {
                eprintln!("could not drop test schema {schema}: {err}");
            }
        });
    })
    .join();
    if joined.is_err() {
        eprintln!("dropping a test schema panicked");
    }
}

/// Terminates every server connection with this application name; returns how many.
pub async fn terminate_connections(client: &tokio_postgres::Client, app: &str) -> i64 {
    client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_terminate_backend")
        .get(0)
}

/// A [`PostgresStore`] on its own schema, which it drops when dropped.
#[derive(Debug)]
pub struct TestStore {
    pub store: PostgresStore,
    pub schema: String,
    pub app: String,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        drop_schema_blocking(&self.schema);
    }
}

#[async_trait]
impl EventStore for TestStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.store.save_events(events).await
    }
    async fn get_events(&self, actor_id: &str, from: i64) -> Result<Vec<Event>, StoreError> {
        self.store.get_events(actor_id, from).await
    }
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.store.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for TestStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        self.store.get_latest_snapshot(actor_id).await
    }
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        self.store.save_snapshot(snapshot).await
    }
}

#[async_trait]
impl EventFeed for TestStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        self.store.read_feed(after, filter, limit).await
    }
    async fn feed_head(&self) -> Result<Position, FeedError> {
        self.store.feed_head().await
    }
    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        self.store.feed_lag(after).await
    }
    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        self.store.wait_for_events(after).await
    }
    // Forwarded so that the lending read tested is the store's own, not the default.
    async fn visit_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        visitor: Box<dyn FeedVisitor>,
    ) -> Result<VisitedPage, FeedError> {
        self.store.visit_feed(after, filter, limit, visitor).await
    }
}

#[async_trait]
impl CheckpointStore for TestStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        self.store.load_checkpoint(projection).await
    }
    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        self.store.save_checkpoint(projection, position).await
    }
    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        self.store.delete_checkpoint(projection).await
    }
}

/// A test event.
pub fn event(actor_id: &str, version: i64, data: serde_json::Value) -> Event {
    Event {
        id: format!("{actor_id}@{version}"),
        event_type: "Tested".to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: None,
        version,
        data,
        timestamp: chrono::Utc::now(),
    }
}
