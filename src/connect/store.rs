//! [`AnyStore`], a store of any type usable as every store trait at once, and the
//! [`StoreKind`] it holds.

use std::any::Any;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use aether_core::{
    async_trait, ActorSnapshot, CheckpointStore, Event, EventFeed, EventRef, EventStore, FeedError,
    FeedFilter, FeedPage, FeedVisitor, Position, SnapshotStore, StoreError, VisitedPage,
};
use aether_runtime::{Runtime, RuntimeBuilder};

use super::redact::redact_url;
use super::Store;

/// Which kind of store an [`AnyStore`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreKind {
    /// [`InMemoryStore`](aether_core::InMemoryStore).
    Memory,
    /// `aether_sqlite::SqliteStore`.
    Sqlite,
    /// `aether_postgres::PostgresStore`.
    Postgres,
    /// `aether_nats::NatsStore`.
    Nats,
    /// A store of another type, wrapped with [`AnyStore::new`].
    Other,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::Nats => "nats",
            StoreKind::Other => "other",
        })
    }
}

/// A store of any type, usable as every store trait at once: it implements
/// [`EventStore`], [`SnapshotStore`], [`EventFeed`] and [`CheckpointStore`] by forwarding,
/// and gives `Arc<dyn ..>` handles for each ([`snapshot_store`](Self::snapshot_store),
/// [`feed`](Self::feed), [`checkpoints`](Self::checkpoints)) and a
/// [`runtime_builder`](Self::runtime_builder). Cloning is cheap: clones share the store.
///
/// Made by [`connect`](super::connect()), or by [`AnyStore::new`] from a store you built.
#[derive(Clone)]
pub struct AnyStore {
    store: Arc<dyn Store>,
    any: Arc<dyn Any + Send + Sync>,
    kind: StoreKind,
    url: String,
}

impl fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyStore")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AnyStore {
    /// Wraps a store of yours. `url` says where it is, for messages; it is kept
    /// redacted ([`redact_url`]).
    pub fn new<S: Store>(store: Arc<S>, url: &str) -> Self {
        Self::with_kind(store, StoreKind::Other, url)
    }

    pub(super) fn with_kind<S: Store>(store: Arc<S>, kind: StoreKind, url: &str) -> Self {
        AnyStore {
            any: store.clone(),
            store,
            kind,
            url: redact_url(url),
        }
    }

    /// Which kind of store this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The URL the store was opened with, password masked ([`redact_url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store as its own type, if it is a `S`: for what only one store has
    /// (`store.downcast_ref::<aether::sqlite::SqliteStore>().map(|s| s.path())`).
    pub fn downcast_ref<S: Store>(&self) -> Option<&S> {
        self.any.downcast_ref::<S>()
    }

    /// The store, as every trait at once.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The store as a [`SnapshotStore`] (what [`Runtime::builder`] takes).
    pub fn snapshot_store(&self) -> Arc<dyn SnapshotStore> {
        Arc::new(self.clone())
    }

    /// The store as an [`EventFeed`] (what projections and `aether::feed::follow` read).
    pub fn feed(&self) -> Arc<dyn EventFeed> {
        Arc::new(self.clone())
    }

    /// The store as a [`CheckpointStore`] (where projections keep their checkpoints).
    pub fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.clone())
    }

    /// A [`RuntimeBuilder`] on this store, for settings; `.build()` it.
    pub fn runtime_builder(&self) -> RuntimeBuilder {
        Runtime::builder(self.snapshot_store())
    }

    /// A [`Runtime`] with default settings on this store.
    pub fn runtime(&self) -> Runtime {
        self.runtime_builder().build()
    }
}

#[async_trait]
impl EventStore for AnyStore {
    async fn save_event(&self, event: &Event) -> Result<(), StoreError> {
        self.store.save_event(event).await
    }
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.store.save_events(events).await
    }
    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.store.append_events(events).await
    }
    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        self.store.get_events(actor_id, from_version).await
    }
    async fn replay_events(
        &self,
        actor_id: &str,
        from_version: i64,
        visit: &mut (dyn for<'e> FnMut(EventRef<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        self.store
            .replay_events(actor_id, from_version, visit)
            .await
    }
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.store.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for AnyStore {
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
impl EventFeed for AnyStore {
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
impl CheckpointStore for AnyStore {
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
