//! Shared test helpers: a store that owns its temporary directory.
#![allow(dead_code, unreachable_pub)]

pub mod totals;

use aether_core::{
    async_trait, ActorSnapshot, CheckpointStore, Event, EventFeed, EventStore, FeedError,
    FeedFilter, FeedPage, FeedVisitor, Position, SnapshotStore, StoreError, VisitedPage,
};
use aether_sqlite::SqliteStore;
use tempfile::TempDir;

/// A [`SqliteStore`] on a fresh file in a temporary directory that lives as long as it.
#[derive(Debug)]
pub struct TempStore {
    pub store: SqliteStore,
    pub dir: TempDir,
}

impl TempStore {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("events.db"))
            .await
            .expect("open store");
        TempStore { store, dir }
    }
}

#[async_trait]
impl EventStore for TempStore {
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
impl EventFeed for TempStore {
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
impl CheckpointStore for TempStore {
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

#[async_trait]
impl SnapshotStore for TempStore {
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

/// An event with a small payload.
pub fn event(actor_id: &str, version: i64) -> Event {
    Event {
        id: format!("{actor_id}-{version}"),
        event_type: "Noted".into(),
        actor_id: actor_id.into(),
        command_id: None,
        version,
        data: serde_json::json!({ "version": version }),
        timestamp: chrono::Utc::now(),
    }
}
