//! [`PostgresStore`]: the [`EventStore`] and [`SnapshotStore`] on PostgreSQL.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    async_trait, validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore,
    SnapshotStore, StoreError, VersionConflictError,
};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use crate::builder::PostgresStoreBuilder;
use crate::codec::{
    check_json, check_text, decode_event, decode_snapshot, encode_event, split_timestamp,
};
use crate::error::{ConnectError, PostgresError, TimedOut, WriterGone};
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
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) schema: String,
    pub(crate) statements: Arc<Statements>,
    pub(crate) queue: mpsc::Sender<Batch>,
    pub(crate) operation_timeout: Duration,
    pub(crate) writers: usize,
    pub(crate) max_group_events: usize,
    pub(crate) target: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let status = inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("target", &inner.target)
            .field("schema", &inner.schema)
            .field("connections", &status.size)
            .field("max_connections", &status.max_size)
            .field("writers", &inner.writers)
            .field("max_group_events", &inner.max_group_events)
            .field("operation_timeout", &inner.operation_timeout)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with the default settings (schema `"aether"`, 8 connections), creating
    /// or migrating the schema.
    ///
    /// `url` is a libpq-style connection string: a URL
    /// (`postgres://user:password@host:5432/db?application_name=app`) or key/value pairs
    /// (`host=localhost user=postgres dbname=app`). TLS is not supported yet.
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
        &self.inner.schema
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
        let timeout = self.inner.operation_timeout;
        tokio::time::timeout(timeout, op)
            .await
            .unwrap_or_else(|_| Err(StoreError::backend(actor_id, version, TimedOut(timeout))))
    }

    async fn client(
        &self,
        actor_id: &str,
        version: i64,
    ) -> Result<deadpool_postgres::Client, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|err| StoreError::backend(actor_id, version, PostgresError::from(err)))
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let Some(actor_id) = validate_batch(events)? else {
            return Ok(());
        };
        let encoded = events
            .iter()
            .map(encode_event)
            .collect::<Result<Vec<_>, _>>()?;
        let first = events[0].version;
        if first <= 0 {
            // Never storable; no row lock is needed to say so.
            let current = self.get_latest_version(actor_id).await?;
            return Err(VersionConflictError {
                actor_id: actor_id.to_owned(),
                attempted_version: first,
                current_version: current,
            }
            .into());
        }
        let (reply, answer) = oneshot::channel();
        let batch = Batch {
            actor_id: actor_id.to_owned(),
            events: encoded,
            reply,
        };
        let gone = || StoreError::backend(actor_id, first, WriterGone);
        self.timed(actor_id, first, async {
            self.inner.queue.send(batch).await.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
        .await
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        validate_actor_id(actor_id, from_version)?;
        check_text(actor_id, from_version, "actor id", actor_id)?;
        self.timed(actor_id, from_version, async {
            let client = self.client(actor_id, from_version).await?;
            let backend = |err: tokio_postgres::Error| {
                StoreError::backend(actor_id, from_version, PostgresError::from(err))
            };
            let rows = query_cached(
                &client,
                &self.inner.statements.events,
                &[&actor_id, &from_version],
            )
            .await
            .map_err(backend)?;
            rows.iter().map(|row| decode_event(actor_id, row)).collect()
        })
        .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        validate_actor_id(actor_id, 0)?;
        check_text(actor_id, 0, "actor id", actor_id)?;
        self.timed(actor_id, 0, async {
            let client = self.client(actor_id, 0).await?;
            let backend = |err: tokio_postgres::Error| {
                StoreError::backend(actor_id, 0, PostgresError::from(err))
            };
            let rows = query_cached(&client, &self.inner.statements.latest_version, &[&actor_id])
                .await
                .map_err(backend)?;
            let row = rows.first();
            match row {
                None => Ok(0),
                Some(row) => row.try_get(0).map_err(|err| {
                    StoreError::serialization(actor_id, 0, PostgresError::from(err))
                }),
            }
        })
        .await
    }
}

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        validate_actor_id(actor_id, 0)?;
        check_text(actor_id, 0, "actor id", actor_id)?;
        self.timed(actor_id, 0, async {
            let client = self.client(actor_id, 0).await?;
            let backend = |err: tokio_postgres::Error| {
                StoreError::backend(actor_id, 0, PostgresError::from(err))
            };
            let rows = query_cached(&client, &self.inner.statements.snapshot, &[&actor_id])
                .await
                .map_err(backend)?;
            rows.first()
                .map(|row| decode_snapshot(actor_id, row))
                .transpose()
        })
        .await
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let (actor_id, version) = (snapshot.actor_id.as_str(), snapshot.version);
        validate_actor_id(actor_id, version)?;
        check_text(actor_id, version, "actor id", actor_id)?;
        check_json(actor_id, version, "snapshot state", &snapshot.state)?;
        let (recorded_at, nanos) = split_timestamp(actor_id, version, &snapshot.timestamp)?;
        self.timed(actor_id, version, async {
            let client = self.client(actor_id, version).await?;
            let backend = |err: tokio_postgres::Error| {
                StoreError::backend(actor_id, version, PostgresError::from(err))
            };
            query_cached(
                &client,
                &self.inner.statements.save_snapshot,
                &[&actor_id, &version, &snapshot.state, &recorded_at, &nanos],
            )
            .await
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
