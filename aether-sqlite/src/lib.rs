//! The embedded default store of aether: one SQLite file, WAL, group commit.
//!
//! [`SqliteStore`] implements [`EventStore`](aether_core::EventStore) and
//! [`SnapshotStore`](aether_core::SnapshotStore) on one SQLite database file, and the read
//! side: [`EventFeed`](aether_core::EventFeed) (every event in one order, see
//! [Feed](#feed)), [`CheckpointStore`](aether_core::CheckpointStore) and exactly-once
//! projection sinks ([Exactly-once projections](#exactly-once-projections)). It needs no
//! server and no system library (SQLite is compiled in).
//!
//! ```
//! use aether_core::{Event, EventStore, SnapshotStore};
//! use aether_sqlite::{SqliteStore, Synchronous};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.db");
//! // Defaults: durable against power loss (synchronous = FULL).
//! let store = SqliteStore::open(&path).await?;
//! # store.close().await?;
//! // Or configured:
//! let store = SqliteStore::builder(&path)
//!     .synchronous(Synchronous::Normal)
//!     .read_connections(2)
//!     .open()
//!     .await?;
//! let deposited = Event {
//!     id: "evt-1".into(),
//!     event_type: "Deposited".into(),
//!     actor_id: "account-1".into(),
//!     command_id: Some("cmd-1".into()),
//!     version: 1,
//!     data: serde_json::json!({ "amount": 100 }),
//!     timestamp: chrono::Utc::now(),
//! };
//! store.save_events(std::slice::from_ref(&deposited)).await?;
//! assert_eq!(store.get_events("account-1", 0).await?, vec![deposited]);
//! assert!(store.get_latest_snapshot("account-1").await?.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Durability
//!
//! The file is in WAL journal mode. An append (`save_event`, `save_events`) is
//! acknowledged (its future resolves `Ok`) only after the transaction holding it has
//! committed. What a commit survives depends on [`Synchronous`]:
//!
//! - [`Synchronous::Full`], the **default**: the WAL is `fsync`ed before the
//!   acknowledgement. An acknowledged append survives a crash of the process (panic,
//!   `kill -9`, out of memory) **and** a crash of the OS or a power loss, provided the
//!   disk honours `fsync`.
//! - [`Synchronous::Normal`]: the commit is written to the WAL (so it is in the OS's
//!   page cache) before the acknowledgement, but only `fsync`ed at checkpoints. An
//!   acknowledged append survives a crash of the process; an OS crash or power loss may
//!   lose the appends acknowledged since the last checkpoint. The file stays consistent
//!   either way and batches stay atomic.
//! - [`Synchronous::Extra`]: the same as `Full` in WAL mode.
//!
//! Group commit makes the default cheap: one `fsync` covers every append that was queued
//! while the previous commit ran. A batch is atomic at every level: after any crash it is either entirely
//! present or entirely absent. A test kills a writing child process with `SIGKILL` and
//! checks exactly this.
//!
//! # Performance
//!
//! Throughput and latency at each [`Synchronous`] level, beside rusqlite alone on the
//! same schema and beside the other stores, are measured by `aether-bench` and the
//! crate's `sqlite_throughput` example; the figures are in the repository's
//! `BENCHMARKS.md`, with the machine and the command that produced them.
//!
//! # Concurrency
//!
//! - **Writes** go to one writer thread that owns the only write connection. It takes all
//!   the appends queued at that moment and commits them in one `BEGIN IMMEDIATE`
//!   transaction (group commit). Each append's version check is made against the
//!   database inside that transaction, so another *process* writing the same file is
//!   detected like any other writer. An append that conflicts fails alone; the others of
//!   its group are still committed. Under heavy concurrency (the last group answered 64
//!   callers or more) the writer waits up to 1 ms for those callers' next appends before
//!   committing a smaller group, as PostgreSQL's `commit_delay` does: fewer, larger
//!   commits. [`SqliteStore::stats`] counts transactions and appends.
//! - **Other processes** may write the same file (each with its own store): each
//!   append's version check sees their commits. SQLite's write lock does not queue, so
//!   the writer shares it fairly: while it waits it polls every 20–50 µs (for at most
//!   [`busy_timeout`](SqliteStoreBuilder::busy_timeout), 5 s by default, per
//!   transaction), and once it has seen another writer it takes 5 ms turns, leaving
//!   the lock free for a moment after each turn, so both processes make progress.
//!   [`StoreStats::lock_waits`] and [`StoreStats::lock_yields`] count both sides.
//! - **Reads** use their own connections (4 by default), from tokio's blocking threads.
//!   In WAL mode they never wait for the writer: a read sees the last commit made before
//!   it began.
//! - **Checkpoints** (copying the WAL back into the main file) run on a thread of their
//!   own, beside the writer, once the WAL passes
//!   [`wal_autocheckpoint`](SqliteStoreBuilder::wal_autocheckpoint) pages, so that no
//!   acknowledgement waits for them; see that method for the one exception.
//!
//! - **Projection sinks** ([`SqliteStore::exactly_once`]) write through a connection of
//!   their own each, which shares the write lock with the writer in the same way as
//!   another process.
//!
//! So an open store runs three OS threads (the writer; one that sends the answers of a
//! committed group while the writer starts the next; checkpoints) and holds `2 + n`
//! SQLite connections (`n` read connections). Opening needs a tokio runtime (any flavour).
//!
//! # Cancel safety
//!
//! Dropping a `save_events` / `save_event` / `save_snapshot` future before it resolves
//! does not withdraw the write if it was already queued for the writer: it may still be
//! committed. The caller then does not know; reading the actor's latest version tells.
//! (This is the "acknowledgement lost" case of
//! [`StoreError::Backend`](aether_core::StoreError::Backend): a retry of the same
//! versions sees a version conflict if the first attempt was stored.) Reads are cancel
//! safe.
//!
//! # Feed
//!
//! [`EventFeed`](aether_core::EventFeed) reads every event of the file in one total
//! order, from any [`Position`](aether_core::Position).
//!
//! - **The scheme.** An event's position is `Position::new(seq, 0)`, `seq` being its
//!   `events.seq`, the table's `INTEGER PRIMARY KEY`. SQLite lets one connection write
//!   at a time, across processes too, and assigns `seq` inside the write transaction as
//!   the highest `seq` + 1. So a transaction that commits later sees every earlier
//!   commit's rows and gives its own events higher seqs: **seq order is commit order**.
//!   A reader that has read up to seq `n` (in a read transaction, which sees whole
//!   commits only) can never miss an event that commits later with a lower seq, because
//!   there is none; no event needs to be held back, as it must on PostgreSQL, where
//!   transactions can commit in another order than they took their sequence numbers.
//! - **Reads** run on the read connections, one page per read transaction: events in
//!   seq order, each joined to its actor by primary key. A filter by actor type is a
//!   range on the actor id (`actor_id >= 'Type|' AND actor_id < 'Type}'`), by event type
//!   an `IN` list; there is no index for either, so a filtered page scans events in seq
//!   order, looking at no more than 10,000 seqs past where it starts. When it finds
//!   fewer events than asked, its `next` moves past every seq it looked at, so paging
//!   through a rare event type costs one short read per 10,000 events, never one read
//!   of the whole table.
//! - **Head and lag.** [`feed_head`](aether_core::EventFeed::feed_head) is `max(seq)`.
//!   Seqs are dense (each is the previous highest + 1, and events are never deleted), so
//!   [`feed_lag`](aether_core::EventFeed::feed_lag) is exact: `max(seq) - after.commit()`.
//! - **Wake-ups.** After each group commit the writer thread publishes the commit's last
//!   seq (a `tokio::sync::watch`, one update per transaction, not per append), so
//!   [`wait_for_events`](aether_core::EventFeed::wait_for_events) in the same process
//!   returns as soon as an event after its position is committed. Commits of **other
//!   processes** (or of another `SqliteStore` on the same file) send no signal: a
//!   waiting reader sees them within the
//!   [`feed_poll_interval`](SqliteStoreBuilder::feed_poll_interval), **100 ms** by
//!   default, after which `wait_for_events` returns and the reader reads again. Any read
//!   that sees a higher seq also raises what this process's waiters know.
//!
//! Projection checkpoints ([`CheckpointStore`](aether_core::CheckpointStore)) live in the
//! `projection_checkpoints` table; saves and deletes go through the writer thread like
//! appends (and share its group commits), loads use the read connections.
//!
//! # Exactly-once projections
//!
//! A read model kept in tables of the same file can be fed exactly once: implement
//! [`SqliteProjection`] (synchronous handlers given the [`rusqlite::Transaction`] of the
//! batch) and make a sink with [`SqliteStore::exactly_once`]. Each batch runs, on a
//! connection of the sink's own, as one transaction: `BEGIN IMMEDIATE`, the handler for
//! each event in order, the upsert of the projection's checkpoint row, `COMMIT`. A
//! handler error rolls all of it back ([`SinkError::Handler`](aether_core::SinkError)
//! names the event), so after any failure or crash the read model holds exactly the
//! events up to the checkpoint. The projection runner (`aether::projection`) drives the
//! sink; here it is driven by hand:
//!
//! ```
//! use aether_core::{
//!     Event, EventFeed, EventStore, FeedEvent, FeedFilter, HandlerError, Position,
//!     ProjectionSink,
//! };
//! use aether_sqlite::rusqlite::{params, Transaction};
//! use aether_sqlite::{SqliteProjection, SqliteStore};
//!
//! /// How many events each actor has, in a table of the store's file.
//! struct EventCounts;
//!
//! impl SqliteProjection for EventCounts {
//!     fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
//!         tx.execute(
//!             "CREATE TABLE IF NOT EXISTS event_counts (actor_id TEXT PRIMARY KEY, n INTEGER)",
//!             [],
//!         )?;
//!         tx.execute(
//!             "INSERT INTO event_counts VALUES (?1, 1) \
//!              ON CONFLICT (actor_id) DO UPDATE SET n = n + 1",
//!             params![event.event.actor_id],
//!         )?;
//!         Ok(())
//!     }
//!
//!     fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
//!         tx.execute("DROP TABLE IF EXISTS event_counts", [])?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("events.db")).await?;
//! # let event = |v| Event {
//! #     id: format!("evt-{v}"), event_type: "Deposited".into(), actor_id: "Account|1".into(),
//! #     command_id: None, version: v, data: serde_json::json!({}), timestamp: chrono::Utc::now(),
//! # };
//! store.save_events(&[event(1), event(2)]).await?;
//!
//! let mut sink = store.exactly_once(EventCounts);
//! let after = sink.checkpoint("event-counts").await?.unwrap_or(Position::START);
//! let page = store.read_feed(after, &FeedFilter::all(), 100).await?;
//! // The two rows and the checkpoint commit together, or not at all.
//! sink.commit("event-counts", &page.events, page.next).await?;
//! assert_eq!(sink.checkpoint("event-counts").await?, Some(page.next));
//! # Ok(())
//! # }
//! ```
//!
//! **Catching up fast.** Three things make a projection over a long history faster; the
//! figures are in BENCHMARKS.md ("catch-up"):
//!
//! - Handle [`Decoded<T>`](aether_core::Decoded) instead of [`FeedEvent`](aether_core::FeedEvent)
//!   (`impl SqliteProjection<Decoded<T>>`, `T` a
//!   [`FeedDecode`](aether_core::FeedDecode) type): the runner then reads the feed with
//!   [`visit_feed`](aether_core::EventFeed::visit_feed), which lends each row to `T`'s
//!   decoder on the read connection's thread (the payload straight from its JSON text),
//!   while the sink's thread writes the previous batch. No owned event is made.
//! - Override [`SqliteProjection::handle_batch`] to prepare statements once per batch.
//! - [`SqliteProjectionSink::synchronous`] with [`Synchronous::Normal`]: no `fsync` per
//!   batch. A batch and its checkpoint still commit together; a power loss may roll back
//!   the last few, which are then handled again.
//!
//! The sink's connection copies its WAL back into the file (checkpoints) on a thread of
//! its own, as the store's writer does, past the store's
//! [`wal_autocheckpoint`](SqliteStoreBuilder::wal_autocheckpoint) pages.
//!
//! The handlers' SQL is [`rusqlite`] **0.37** (SQLite compiled in), re-exported as
//! [`aether_sqlite::rusqlite`](crate::rusqlite) so a projection need not name it in its
//! own `Cargo.toml`. A handler must not end the transaction (`COMMIT`, `ROLLBACK`);
//! savepoints are fine.
//!
//! # What it writes
//!
//! One file (plus SQLite's `-wal` and `-shm` files beside it while open), schema version 2
//! in `PRAGMA user_version`, `PRAGMA application_id = 0x41455448` ("AETH"):
//!
//! ```sql
//! CREATE TABLE actors (
//!     actor_key      INTEGER PRIMARY KEY,      -- small integer key of the actor
//!     actor_id       TEXT    NOT NULL UNIQUE,  -- the actor id, exactly as given
//!     latest_version INTEGER NOT NULL DEFAULT 0,
//!     latest_seq     INTEGER                   -- events.seq of its latest event
//! );
//! CREATE TABLE events (
//!     seq        INTEGER PRIMARY KEY,  -- append order over all actors (rowid)
//!     actor_key  INTEGER NOT NULL,
//!     version    INTEGER NOT NULL,
//!     prev_seq   INTEGER,              -- seq of the actor's previous event; NULL for its first
//!     id         TEXT    NOT NULL,
//!     event_type TEXT    NOT NULL,
//!     command_id TEXT,
//!     data       TEXT    NOT NULL,     -- the payload as JSON text (`null` included)
//!     ts_secs    INTEGER NOT NULL,     -- timestamp: seconds since the Unix epoch, UTC
//!     ts_nanos   INTEGER NOT NULL      -- and nanoseconds within the second
//! );
//! CREATE TABLE snapshots (                 -- the latest (highest-version) snapshot per actor
//!     actor_key INTEGER PRIMARY KEY,
//!     version   INTEGER NOT NULL,
//!     state     TEXT    NOT NULL,          -- JSON
//!     ts_secs   INTEGER NOT NULL,
//!     ts_nanos  INTEGER NOT NULL
//! );
//! CREATE TABLE projection_checkpoints (    -- since version 2
//!     name     TEXT NOT NULL PRIMARY KEY,  -- the projection's name
//!     position TEXT NOT NULL               -- its feed position, "commit:index" (e.g. "42:0")
//! );
//! ```
//!
//! Why this layout: events are appended in `seq` (rowid) order, so an append writes to
//! the end of one B-tree and updates one row of the small `actors` table, however many
//! actors write at once and however large the table grows. Each actor's events form a
//! chain through `prev_seq`, from `actors.latest_seq` back to its first event, which is
//! how `get_events` finds them (newest first, then reversed). An index on
//! `(actor_key, version)` would instead dirty one index page per actor per commit: with
//! a thousand actors writing at once, such layouts (a `WITHOUT ROWID` table keyed by
//! `(actor_key, version)`, or a rowid table with that index) slow down several times
//! over as the table grows past a few hundred thousand rows, while this one keeps its
//! rate. The price is paid by reads of long histories: one row lookup per event, in
//! pages shared with other actors (`BENCHMARKS.md` has the measured figures).
//!
//! To read an actor's history with the `sqlite3` shell, newest first:
//!
//! ```sql
//! WITH RECURSIVE chain(seq) AS (
//!     SELECT latest_seq FROM actors WHERE actor_id = 'account-1'
//!     UNION ALL SELECT e.prev_seq FROM events e JOIN chain c ON e.seq = c.seq
//! )
//! SELECT e.* FROM chain c JOIN events e ON e.seq = c.seq;
//! ```
//!
//! A file at schema version 1 (written by an earlier release) is migrated when it is
//! opened, inside the transaction that checks the schema: version 2 only adds the
//! `projection_checkpoints` table, so existing events keep their seqs and positions.
//! Opening a file whose schema version is newer than this crate knows fails with
//! [`OpenError::NewerSchema`] and changes nothing.
//!
//! # Errors
//!
//! Reads of the feed and checkpoints fail with [`aether_core::FeedError`]: `Backend`
//! naming the position read after, `Serialization` naming the event's position, actor
//! and version (a stored row that is not an event, including one whose actor row is
//! missing), `Checkpoint` naming the projection; never a panic. Projection sinks fail
//! with [`aether_core::SinkError`].
//!
//! The write side's operations fail with [`aether_core::StoreError`], naming actor and version:
//! `VersionConflict` for the optimistic-concurrency check, `InvalidInput` for malformed
//! batches, `Serialization` for a stored row that cannot be decoded (invalid JSON, a
//! timestamp out of range, a broken chain), `Backend` for SQLite errors (including a
//! lock held by another process for longer than the busy timeout).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod checkpoint;
mod codec;
mod error;
mod feed;
mod lock;
mod projection;
mod reader;
mod schema;
mod store;
mod writer;

/// The SQLite bindings the handlers of a [`SqliteProjection`] are given transactions
/// of: this crate's `rusqlite` (0.37, with SQLite compiled in, feature `bundled`),
/// re-exported so that a projection uses the same version without naming it in its own
/// `Cargo.toml`.
pub use rusqlite;

pub use builder::{SqliteStoreBuilder, Synchronous};
pub use error::{CloseError, OpenError};
pub use projection::{SqliteProjection, SqliteProjectionSink};
pub use schema::SCHEMA_VERSION;
pub use store::{SqliteStore, StoreStats, WriterHold};
