//! The PostgreSQL store for aether: [`PostgresStore`], an
//! [`EventStore`](aether_core::EventStore) and [`SnapshotStore`](aether_core::SnapshotStore)
//! that several processes can share.
//!
//! # Connecting
//!
//! ```no_run
//! use std::sync::Arc;
//! use aether_core::SnapshotStore;
//! use aether_postgres::PostgresStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aether_postgres::ConnectError> {
//! // Defaults: schema "aether", 8 pooled connections, 10 s connect timeout.
//! let store = PostgresStore::connect("postgres://postgres@localhost/app").await?;
//!
//! // Or choose: one schema per tenant, a pool size, timeouts.
//! let tenant_a = PostgresStore::builder("postgres://postgres@localhost/app")
//!     .schema("tenant_a")
//!     .application_name("billing")
//!     .max_connections(16)
//!     .connect()
//!     .await?;
//!
//! // Or reuse a deadpool-postgres pool you already have.
//! let pool = tenant_a.pool().clone();
//! let tenant_b = PostgresStore::builder_from_pool(pool).schema("tenant_b").connect().await?;
//!
//! let shared: Arc<dyn SnapshotStore> = Arc::new(store);
//! # drop((shared, tenant_b));
//! # Ok(())
//! # }
//! ```
//!
//! Connecting creates the schema and its tables if they are missing and migrates older
//! layouts, once, even when many processes connect at the same moment (an advisory lock
//! serializes them). A schema written by a newer aether-postgres is refused
//! ([`ConnectError::NewerSchema`]). A server that cannot be reached fails the connect
//! after at most the connect timeout ([`ConnectError::Unreachable`]).
//!
//! # Tables
//!
//! In the configured schema (`"aether"` unless set):
//!
//! | table            | columns                                                                 |
//! |------------------|-------------------------------------------------------------------------|
//! | `schema_version` | `version integer`: the layout version ([`SCHEMA_VERSION`]), one row     |
//! | `actors`         | `actor_id text` PK, `latest_version bigint`, `latest_batch_first_version bigint` (first version of the latest accepted batch) |
//! | `events`         | `actor_id text`, `version bigint` (PK together), `event_id text`, `event_type text`, `command_id text` (NULL when none), `data jsonb`, `recorded_at timestamptz`, `recorded_nanos integer` |
//! | `snapshots`      | `actor_id text` PK, `version bigint`, `state jsonb`, `recorded_at timestamptz`, `recorded_nanos integer` |
//!
//! - `data` and `state` are `jsonb`, so payloads can be queried in SQL. A JSON `null`
//!   payload is stored as the jsonb value `null`, never as SQL `NULL`, and reads back as
//!   `null`.
//! - Timestamps keep nanoseconds: `recorded_at` is the instant truncated to the
//!   microsecond (readable and indexable in SQL), `recorded_nanos` the whole sub-second
//!   part in nanoseconds, which replaces the microseconds of `recorded_at` when read back.
//! - `snapshots` keeps one row per actor: the snapshot with the highest version.
//!
//! # What the store promises
//!
//! - **The version check is atomic across processes.** An append is one statement: a
//!   conditional upsert of the actor's `actors` row (`... ON CONFLICT (actor_id) DO UPDATE
//!   SET latest_version = <last> WHERE actors.latest_version < <first>`) and, in the same
//!   statement and transaction, the insert of the events, made only if the upsert
//!   accepted the batch. The upsert holds the actor's row lock and sees the latest
//!   committed version, so there is no read-then-insert race, and a version below the
//!   latest conflicts even across gaps (after 9, a 6 conflicts although no event 6
//!   exists).
//! - **A batch is all or nothing.** It is written by one statement in one transaction.
//! - **Conflicts report the current version**, read after the refusal, so it is never
//!   below the attempted one.
//! - **Group commit.** Appends of many actors queued at the same time share one
//!   statement, one round trip and one commit (see
//!   [`PostgresStoreBuilder::writers`] and [`PostgresStoreBuilder::max_group_events`]);
//!   each batch still gets its own version check and its own answer.
//! - **Bad input gets [`StoreError::InvalidInput`](aether_core::StoreError::InvalidInput)
//!   naming the actor and version**, before anything is sent: a NUL byte in an id or type
//!   (PostgreSQL text cannot hold one), a `\u0000` in a JSON string (jsonb cannot), a
//!   timestamp before 4713 BC. A row that cannot be decoded gets
//!   [`StoreError::Serialization`](aether_core::StoreError::Serialization) naming actor
//!   and version. Nothing panics.
//! - **Lost connections are errors, not hangs.** An operation whose connection breaks, or
//!   that takes longer than the operation timeout, fails with
//!   [`StoreError::Backend`](aether_core::StoreError::Backend) (a write then may or may
//!   not have been committed). Broken connections are dropped from the pool and new ones
//!   opened on demand, so the same store serves again as soon as the server does.
//! - **Server errors say what the server said.** The source of a backend error (and of a
//!   [`ConnectError`]) is a [`PostgresError`], whose message carries the server's
//!   severity, message and SQLSTATE (`FATAL: terminating connection due to administrator
//!   command (SQLSTATE 57P01)`), and whose [`code`](PostgresError::code) gives the
//!   SQLSTATE to match on.
//!
//! # Cancel safety
//!
//! Dropping a `save_events` future before it resolves leaves the write undecided: it is
//! skipped if its group has not been formed yet, and committed otherwise. As after a
//! backend error, read the actor's latest version to know.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod codec;
mod error;
mod feed;
mod projection;
mod query;
mod schema;
mod store;
mod writer;

pub use builder::{
    PostgresStoreBuilder, DEFAULT_FEED_POLL_INTERVAL, DEFAULT_FEED_READ_WAIT, DEFAULT_SCHEMA,
};
pub use error::{ConnectError, PostgresError};
pub use projection::{PostgresProjection, PostgresProjectionSink};
pub use schema::SCHEMA_VERSION;
pub use store::PostgresStore;

/// The few types of the pool and driver crates that this crate's API uses: enough to
/// build a pool for [`PostgresStore::from_pool`] / [`PostgresStore::builder_from_pool`]
/// and to match on a server error's code ([`PostgresError::code`]).
///
/// They come from deadpool-postgres 0.14 and tokio-postgres 0.7; a major version bump of
/// either is a breaking change of this crate. A program that needs more of either crate
/// depends on it directly, at those versions.
///
/// ```no_run
/// use aether_postgres::driver::{Config, Manager, NoTls, Pool};
/// use aether_postgres::PostgresStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config: Config = "postgres://app@127.0.0.1/app".parse()?;
/// let pool = Pool::builder(Manager::new(config, NoTls)).max_size(16).build()?;
/// let store = PostgresStore::from_pool(pool).await?;
/// # drop(store);
/// # Ok(())
/// # }
/// ```
pub mod driver {
    pub use deadpool_postgres::{
        Manager, ManagerConfig, Pool, PoolBuilder, RecyclingMethod, Transaction,
    };
    pub use tokio_postgres::error::SqlState;
    pub use tokio_postgres::types::ToSql;
    pub use tokio_postgres::{Config, Error, NoTls, Row};
}
