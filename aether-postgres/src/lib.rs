//! The PostgreSQL store for aether: [`PostgresStore`], an
//! [`EventStore`](aether_core::EventStore) and [`SnapshotStore`](aether_core::SnapshotStore)
//! that several processes can share, with a read side: an
//! [`EventFeed`](aether_core::EventFeed) of every event in one order, projection
//! checkpoints ([`CheckpointStore`](aether_core::CheckpointStore)) and exactly-once
//! projections into the same database ([`PostgresProjection`]).
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
//! # TLS and credentials
//!
//! TLS is rustls (with the `ring` provider), configured as libpq is: `sslmode`
//! (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`; see
//! [`SslMode`]), `sslrootcert` (a CA file, or `system`), `sslcert` and `sslkey` (a client
//! certificate) in the connection string, or the builder's
//! [`ssl_mode`](PostgresStoreBuilder::ssl_mode),
//! [`tls_ca_file`](PostgresStoreBuilder::tls_ca_file),
//! [`tls_client_cert`](PostgresStoreBuilder::tls_client_cert). Passwords go in the URL
//! or, kept out of it, through [`password`](PostgresStoreBuilder::password); SCRAM logins
//! over TLS are bound to the channel. A certificate that does not verify or a server
//! without TLS is [`ConnectError::Tls`], naming the host and the reason; a refused login
//! is [`ConnectError::Authentication`]. No password is ever in a `Debug` output, an
//! error or a log line of this crate ([`redact_url`] masks one in a URL of yours).
//!
//! # Tables
//!
//! In the configured schema (`"aether"` unless set):
//!
//! | table            | columns                                                                 |
//! |------------------|-------------------------------------------------------------------------|
//! | `schema_version` | `version integer`: the layout version ([`SCHEMA_VERSION`]), one row     |
//! | `actors`         | `actor_id text` PK, `latest_version bigint`, `latest_batch_first_version bigint` (first version of the latest accepted batch), `last_tx xid8` (the transaction that last appended to it) |
//! | `events`         | `actor_id text`, `version bigint` (PK together), `event_id text`, `event_type text`, `command_id text` (NULL when none), `data jsonb`, `recorded_at timestamptz`, `recorded_nanos integer`, `tx_id xid8` (the appending transaction), `seq bigint` (from the sequence `events_seq`); index `events_feed_order (tx_id, seq)` |
//! | `snapshots`      | `actor_id text` PK, `version bigint`, `state jsonb`, `recorded_at timestamptz`, `recorded_nanos integer` |
//! | `projection_checkpoints` | `name text` PK, `position text` (`"tx_id:seq"`, as [`Position`](aether_core::Position) displays), `updated_at timestamptz` |
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
//! # Feed
//!
//! [`PostgresStore`] is an [`EventFeed`](aether_core::EventFeed): every event of the
//! schema in one order, read in pages from a [`Position`](aether_core::Position).
//!
//! **The order.** Each event row records the transaction that appended it, `tx_id xid8`
//! (`DEFAULT pg_current_xact_id()`), and a number from a sequence, `seq`. The feed is
//! ordered by `(tx_id, seq)`, and an event's position is `Position::new(tx_id, seq)`
//! (`xid8` is 64 bits and never wraps around). The events of one append are in version
//! order by `seq`, and an actor's later appends have higher transaction ids (the
//! `last_tx` guard on `actors` refuses, and the store retries in a fresh transaction, a
//! group whose transaction id is below the one that last wrote the actor), so each actor's
//! events come in version order.
//!
//! **Why it never skips.** Transactions commit in another order than they start: a
//! plain `bigserial` lets a reader pass number 7, committed, while number 6 is still
//! being written; 6 then appears behind the reader, skipped forever. Here a read returns
//! only rows with `tx_id < pg_snapshot_xmin(pg_current_snapshot())`, the *horizon*: the
//! oldest transaction id still running when the read's snapshot was taken. Every
//! transaction below it has ended (committed and visible, or aborted), and transaction
//! ids are handed out in increasing order, so no row can ever appear below the horizon
//! after a read: every event not yet read lands above the position the reader got. A
//! page that comes back with fewer events than asked may move its `next` up to the last
//! event below the same horizon (past events the filter left out), never further.
//!
//! **The cost.** A transaction that has written anything (so has an id), *anywhere in the
//! PostgreSQL cluster*, holds the horizon, and so holds back every event appended after
//! it began, until it ends. A migration, a batch job or an idle-in-transaction session
//! delays every feed reader by as long as it stays open (the events are kept, never
//! lost). Read-only transactions, which have no id, do not. To keep an event whose
//! `save_events` has returned in the very next read, [`read_feed`]
//! waits, up to [`PostgresStoreBuilder::feed_read_wait`] (1 s by default), when it finds
//! committed events still held back, and then reads once more.
//!
//! - **Filters.** By actor type (the part of the actor id before the first `|`) and by
//!   event type (`= ANY`), applied while scanning the `(tx_id, seq)` index.
//! - **Head and lag.** [`feed_head`](aether_core::EventFeed::feed_head) is the last event
//!   below the horizon. [`feed_lag`](aether_core::EventFeed::feed_lag) counts every
//!   committed event after the position, readable or still held back.
//! - **Wake-ups.** After the commits that inserted events, the store sends a `NOTIFY` on
//!   the schema's channel (`aether_feed:<schema>`, hashed when longer than 63 bytes), in a
//!   statement of its own: commits signalled while one is being sent share the next. (A
//!   `NOTIFY` inside the appending transaction would make its commit wait for every other
//!   notifying commit of the cluster, one disk flush each.) A process that stops between a
//!   commit and its notification leaves the other processes' readers to their poll
//!   interval. On its first [`wait_for_events`](aether_core::EventFeed::wait_for_events)
//!   a store opens one extra connection that `LISTEN`s (re-opened if it drops); a wait
//!   returns on a notification from any process, on an append of this store, or after the
//!   poll interval ([`PostgresStoreBuilder::feed_poll_interval`], 100 ms by default), which
//!   also covers events released when a transaction that held the horizon ends. A read
//!   waiting for the horizon looks again on each of these wake-ups, and at least every
//!   5 ms. A store
//!   built from a pool has no listener (the pool does not reveal where it connects):
//!   appends of other processes reach it within the poll interval.
//! - **Checkpoints** are rows of `projection_checkpoints`.
//!
//! ```no_run
//! use aether_core::{EventFeed, FeedFilter, Position};
//! use aether_postgres::PostgresStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@localhost/app").await?;
//! let mut after = Position::START;
//! loop {
//!     let page = store.read_feed(after, &FeedFilter::all().actor_type("Account"), 100).await?;
//!     for fed in &page.events {
//!         println!("{} {} v{}", fed.position, fed.event.actor_id, fed.event.version);
//!     }
//!     after = page.next;
//!     if page.events.is_empty() {
//!         store.wait_for_events(after).await?;
//!     }
//! #   break;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Exactly-once projections
//!
//! A read model kept in the same database can be fed exactly once: implement
//! [`PostgresProjection`], whose handler writes through the transaction the sink also
//! advances the checkpoint in, and give it to [`PostgresStore::exactly_once`]. The
//! [`PostgresProjectionSink`] it returns is an
//! [`aether_core::ProjectionSink`] for the projection runner: each batch's writes and
//! its checkpoint commit together, or, when the handler fails, neither (the error names
//! the failed event's position). Keep batches short: while one is open its transaction
//! holds back every feed reader of the cluster (see [Feed](#feed)).
//!
//! ```no_run
//! use aether_core::{async_trait, FeedEvent, HandlerError, Position, ProjectionSink};
//! use aether_postgres::driver::Transaction;
//! use aether_postgres::{PostgresProjection, PostgresStore};
//!
//! /// How many events each actor has, in the table `app.event_counts`.
//! struct EventCounts;
//!
//! #[async_trait]
//! impl PostgresProjection for EventCounts {
//!     async fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
//!         tx.execute(
//!             "INSERT INTO app.event_counts (actor_id, n) VALUES ($1, 1) \
//!              ON CONFLICT (actor_id) DO UPDATE SET n = event_counts.n + 1",
//!             &[&event.event.actor_id],
//!         )
//!         .await?;
//!         Ok(())
//!     }
//!
//!     async fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
//!         tx.execute("DELETE FROM app.event_counts", &[]).await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@localhost/app").await?;
//! let mut sink = store.exactly_once(EventCounts);
//! // What a projection runner does with it: resume, then commit batch after batch.
//! let after = sink.checkpoint("event_counts").await?.unwrap_or(Position::START);
//! # let events: Vec<FeedEvent> = Vec::new();
//! # let to = after;
//! sink.commit("event_counts", &events, to).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`read_feed`]: aether_core::EventFeed::read_feed
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
mod redact;
mod schema;
mod store;
mod tls;
mod writer;

pub use builder::{
    PostgresStoreBuilder, DEFAULT_FEED_POLL_INTERVAL, DEFAULT_FEED_READ_WAIT, DEFAULT_SCHEMA,
};
pub use error::{ConnectError, PostgresError};
pub use projection::{PostgresProjection, PostgresProjectionSink};
pub use redact::redact_url;
pub use schema::SCHEMA_VERSION;
pub use store::PostgresStore;
pub use tls::{SslMode, UnknownSslMode};

/// The few types of the pool and driver crates that this crate's API uses: enough to
/// build a pool for [`PostgresStore::from_pool`] / [`PostgresStore::builder_from_pool`],
/// to match on a server error's code ([`PostgresError::code`]), and to write a
/// [`PostgresProjection`]'s handler (its [`Transaction`](driver::Transaction), parameters
/// as [`ToSql`](driver::ToSql), result [`Row`](driver::Row)s).
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
