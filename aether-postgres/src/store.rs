//! [`PostgresStore`]: the [`EventStore`] and [`SnapshotStore`] on PostgreSQL.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use aether_core::{
    async_trait, encode_batch, submit_write, validate_actor_id, ActorSnapshot, Event, EventStore,
    SnapshotStore, StoreError,
};
use deadpool_postgres::Pool;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::builder::{PostgresStoreBuilder, Settings};
use crate::codec::{
    check_json, check_text, decode_event, decode_snapshot, encode_event, split_timestamp,
};
use crate::error::{ConnectError, PostgresError, TimedOut, WriterGone};
use crate::feed::FeedState;
use crate::query::query_cached;
use crate::schema::Statements;
use crate::writer::Batch;

/// An aether store in a PostgreSQL schema: events, snapshots, and each actor's latest
/// version, with the version check made atomically by the server.
///
/// Cheap to clone (clones share the pool and the writers); `Send + Sync`, so share it
/// across tasks as is or as `Arc<dyn SnapshotStore>`. See the [crate docs](crate) for the
/// table layout and what the store promises.
///
/// # Examples
///
/// ```no_run
/// use aether_core::{Event, EventStore};
/// use aether_postgres::PostgresStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://postgres@localhost/app").await?;
/// let event = Event {
///     id: "evt-1".into(),
///     event_type: "Opened".into(),
///     actor_id: "account-1".into(),
///     command_id: None,
///     version: 1,
///     data: serde_json::json!({ "owner": "Ada" }),
///     timestamp: chrono::Utc::now(),
/// };
/// store.save_event(&event).await?;
/// assert!(store.save_event(&event).await.unwrap_err().is_version_conflict());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) statements: Arc<Statements>,
    pub(crate) queue: mpsc::Sender<Batch>,
    /// Where the store connected, without credentials.
    pub(crate) target: String,
    pub(crate) settings: Settings,
    /// The read side's wake-ups and listener.
    pub(crate) feed: FeedState,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let status = inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("target", &inner.target)
            .field("connections", &status.size)
            .field("pool_size", &status.max_size)
            .field("settings", &inner.settings)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with the default settings (schema `"aether"`, 8 connections), creating
    /// or migrating the schema.
    ///
    /// `url` is a libpq-style connection string: a URL
    /// (`postgres://user:password@host:5432/db?application_name=app`) or key/value pairs
    /// (`host=localhost user=postgres dbname=app`). TLS follows libpq's `sslmode`,
    /// `sslrootcert`, `sslcert` and `sslkey` parameters (default `prefer`); see
    /// [`SslMode`](crate::SslMode) and the builder's TLS methods.
    ///
    /// # Errors
    ///
    /// See [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::builder(url).connect().await
    }

    /// A builder to choose the schema, pool size and timeouts before connecting.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::from_url(url.into())
    }

    /// Builds a store on an existing pool with the default settings (schema `"aether"`),
    /// creating or migrating the schema.
    ///
    /// # Errors
    ///
    /// See [`PostgresStoreBuilder::connect`].
    pub async fn from_pool(pool: Pool) -> Result<Self, ConnectError> {
        Self::builder_from_pool(pool).connect().await
    }

    /// A builder for a store on an existing pool (its connection settings and size are
    /// the pool's own).
    pub fn builder_from_pool(pool: Pool) -> PostgresStoreBuilder {
        PostgresStoreBuilder::from_pool(pool)
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        PostgresStore {
            inner: Arc::new(inner),
        }
    }

    /// The schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.inner.settings.schema
    }

    /// The store's connection pool, to run your own queries beside the store.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Runs `op` with the operation timeout; a timeout becomes a backend error.
    async fn timed<T>(
        &self,
        actor_id: &str,
        version: i64,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.inner.settings.operation_timeout;
        tokio::time::timeout(timeout, op)
            .await
            .unwrap_or_else(|_| Err(StoreError::backend(actor_id, version, TimedOut(timeout))))
    }

    /// Checks the actor id, then runs one of the store's statements on a pooled
    /// connection, within the operation timeout; errors name the actor and version.
    async fn query(
        &self,
        actor_id: &str,
        version: i64,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        check_actor_id(actor_id, version)?;
        let backend = |err: PostgresError| StoreError::backend(actor_id, version, err);
        self.timed(actor_id, version, async {
            let client = self.inner.pool.get().await.map_err(|e| backend(e.into()))?;
            query_cached(&client, statement, params)
                .await
                .map_err(|e| backend(e.into()))
        })
        .await
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let Some(batch) = encode_batch(events, encode_event)? else {
            return Ok(());
        };
        let (actor_id, first) = (batch.actor_id, batch.first_version);
        if first <= 0 {
            // Never storable; no row lock is needed to say so.
            let current = self.get_latest_version(actor_id).await?;
            return Err(StoreError::version_conflict(actor_id, first, current));
        }
        let append = |reply| Batch {
            actor_id: actor_id.to_owned(),
            events: batch.events,
            reply,
            reorders: 0,
        };
        let gone = || StoreError::backend(actor_id, first, WriterGone);
        self.timed(
            actor_id,
            first,
            submit_write(&self.inner.queue, append, gone),
        )
        .await
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let statement = &self.inner.statements.events;
        let rows = self
            .query(
                actor_id,
                from_version,
                statement,
                &[&actor_id, &from_version],
            )
            .await?;
        rows.iter().map(|row| decode_event(actor_id, row)).collect()
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        let statement = &self.inner.statements.latest_version;
        let rows = self.query(actor_id, 0, statement, &[&actor_id]).await?;
        match rows.first() {
            None => Ok(0),
            Some(row) => row
                .try_get(0)
                .map_err(|err| StoreError::serialization(actor_id, 0, PostgresError::from(err))),
        }
    }
}

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        let statement = &self.inner.statements.snapshot;
        let rows = self.query(actor_id, 0, statement, &[&actor_id]).await?;
        rows.first()
            .map(|row| decode_snapshot(actor_id, row))
            .transpose()
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let (actor_id, version) = (snapshot.actor_id.as_str(), snapshot.version);
        check_actor_id(actor_id, version)?;
        check_json(actor_id, version, "snapshot state", &snapshot.state)?;
        let (recorded_at, nanos) = split_timestamp(actor_id, version, &snapshot.timestamp)?;
        let statement = &self.inner.statements.save_snapshot;
        let params: [&(dyn ToSql + Sync); 5] =
            [&actor_id, &version, &snapshot.state, &recorded_at, &nanos];
        self.query(actor_id, version, statement, &params).await?;
        Ok(())
    }
}

/// The read guard of this store: aether-core's ([`validate_actor_id`]), then the one
/// PostgreSQL text adds (no NUL byte).
fn check_actor_id(actor_id: &str, version: i64) -> Result<(), StoreError> {
    validate_actor_id(actor_id, version)?;
    check_text(actor_id, version, "actor id", actor_id)
}
