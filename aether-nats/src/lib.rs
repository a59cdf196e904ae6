//! The NATS JetStream store for aether, the seed's own backend: [`NatsStore`] implements
//! [`EventStore`](aether_core::EventStore) and [`SnapshotStore`](aether_core::SnapshotStore).
//!
//! ```no_run
//! use aether_core::{Event, EventStore};
//! use aether_nats::NatsStore;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = NatsStore::builder("nats://127.0.0.1:4222")
//!     .namespace("orders")
//!     .connect()
//!     .await?;
//! let event = Event {
//!     id: "evt-1".into(),
//!     event_type: "Placed".into(),
//!     actor_id: "order/7".into(),
//!     command_id: None,
//!     version: 1,
//!     data: serde_json::json!({ "total": 42 }),
//!     timestamp: chrono::Utc::now(),
//! };
//! store.save_event(&event).await?;
//! assert_eq!(store.get_latest_version("order/7").await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Each namespace (see [`NatsStoreBuilder::namespace`], default `"default"`) has its own
//! stream and bucket, created on connect if missing. For the namespace `orders`:
//!
//! - events: the stream `aether_orders_events` (file storage, `allow_direct`,
//!   `deny_delete`, `deny_purge`), subjects `aether.orders.events.*`; one actor's events
//!   are on the subject `aether.orders.events.<token>`;
//! - snapshots: the key-value bucket `aether_orders_snapshots` (history 1, file storage),
//!   key `<token>`, value the seed's JSON of the snapshot.
//!
//! `<token>` is the actor id escaped into `[A-Za-z0-9_-]` (letters, digits and `-` as
//! they are, every other byte as `_XX` in hex), reversible and collision-free for any
//! id; see [`subject`]. [`Layout`] computes all these names.
//!
//! # Files
//!
//! As in the other store crates: `store.rs` is [`NatsStore`] and its `EventStore` /
//! `SnapshotStore` impls, `builder.rs` [`NatsStoreBuilder`] and connecting, `error.rs`
//! [`ConnectError`], `codec.rs` the wire format, `subject.rs` the backend layout
//! ([`Layout`], the id encoding); `reader.rs` reads the stream. There is no `writer.rs`:
//! a save is one publish, made by the caller's task (the server orders writers).
//!
//! # Atomicity and concurrency
//!
//! One [`save_events`](aether_core::EventStore::save_events) is **one JetStream message**:
//! the payload is the seed's JSON of the event for a batch of one (what the Go seed
//! writes), a JSON array of events for a larger batch, with headers
//! `Aether-First-Version`, `Aether-Last-Version` and `Aether-Event-Count`. A batch is
//! therefore stored whole or not at all. (JetStream's atomic batch publish needs
//! nats-server 2.12; one message per batch works on every server from 2.9 on, and
//! needs no server-side batch state.) A batch must fit the server's `max_payload`
//! (1 MiB by default), else it is refused with `StoreError::InvalidInput`.
//!
//! The version check is done by the server. A save reads the newest message of the
//! actor's subject (a direct get: its stream sequence and last version), refuses a
//! version not above that last version with
//! [`StoreError::VersionConflict`](aether_core::StoreError::VersionConflict) (the current
//! version it reports is then confirmed with the stream leader), then publishes with the
//! header `Nats-Expected-Last-Subject-Sequence` set to that sequence. If any other
//! writer, in this process or another, appended in between, or the direct get was
//! answered by a lagging replica, the server rejects the publish (wrong last sequence)
//! and the save reads the head again, from the leader: it conflicts with the newer
//! version, or, when its batch is still ahead of it (gaps are allowed), publishes after
//! it. Nothing is cached in process, so a writer elsewhere is always seen. A save thus
//! costs two round trips.
//!
//! Snapshots are written with compare-and-set on the key's revision: the stored
//! snapshot is read, kept if its version is higher than the new one (latest = highest
//! version), and otherwise replaced only if nobody replaced it meanwhile.
//!
//! # Reads
//!
//! Reads ask the stream leader, so they see every acknowledged write.
//! `get_latest_version` is one message get (the last message of the subject).
//! `get_events(actor, from)` reads that last message first; if `from` falls inside it
//! (the usual case after a snapshot) that is the only request. Otherwise a binary search
//! over stream sequences (direct gets of "the actor's next message at or after sequence
//! s"; versions grow along the stream) finds where the actor's batches reach `from`, and
//! a short-lived ephemeral pull consumer, filtered on the actor's subject, streams them
//! from there up to that last message; batches wholly below `from` are skipped by
//! their headers without being parsed. Undecodable messages are
//! [`StoreError::Serialization`](aether_core::StoreError::Serialization) errors that name
//! the actor, the version (from the headers, when readable) and the stream sequence.
//!
//! # Durability
//!
//! Events and snapshots use JetStream file storage. A save returns `Ok` only after the
//! server's publish acknowledgement: the message is then in the stream's file store
//! and, on a replicated stream, on a quorum of its replicas. nats-server hands each write
//! to the operating system at once but fsyncs on a timer, not per message (by default),
//! so an acknowledged write survives a crash of the client or of the server process;
//! surviving a power loss or kernel crash of a single-replica server needs the stream
//! replicated ([`NatsStoreBuilder::replicas`]) or, on nats-server 2.10+,
//! `sync_interval: always` in the server's JetStream config.
//!
//! # Connection and failures
//!
//! [`NatsStore::connect`] gives up with [`ConnectError`] within the connect timeout (5 s by
//! default) when the server is unreachable. Once connected, the client reconnects by
//! itself, forever, with a delay that grows to 2 s. While the connection is down, each
//! operation fails with [`StoreError::Backend`](aether_core::StoreError::Backend) after at
//! most the request timeout (5 s by default); when the server is back, the same store
//! works again, no restart needed. A save whose acknowledgement was lost may have been
//! stored: retrying it then reports a version conflict.
//!
//! # Cancel safety
//!
//! Dropping a `save_events` / `save_event` future before it resolves leaves the save
//! undecided, as the [`EventStore`](aether_core::EventStore#cancel-safety) contract
//! says: dropped while it reads the subject's head, it has stored nothing; once its
//! publish has been handed to the client, the server may store the batch (whole: it is
//! one message) whether or not anyone waits for the acknowledgement. Read the actor's latest version to know; saving the same
//! versions again conflicts if the batch was stored. A dropped `save_snapshot` may
//! likewise have replaced the snapshot or not. Nothing is left behind that blocks later
//! saves: the check is the server's expected-last-subject-sequence, not a lock. Reads
//! are cancel safe; a dropped `get_events` that had started a pull consumer leaves it to
//! the server, which deletes it after 30 s of inactivity.
//!
//! # Configuration
//!
//! `NatsStore::connect(url)` is `NatsStore::builder(url).connect()`;
//! [`NatsStore::builder`] chooses the namespace, connect timeout, request timeout and
//! replicas. For credentials, TLS options and the like, connect an `async_nats::Client`
//! yourself and pass it to [`NatsStore::from_client`] or
//! [`NatsStore::builder_from_client`].
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod checkpoint;
mod codec;
mod error;
mod feed;
mod hook;
mod reader;
mod store;
pub mod subject;

pub use builder::{NatsStoreBuilder, DEFAULT_NAMESPACE};
pub use error::ConnectError;
pub use feed::DEFAULT_FEED_POLL_INTERVAL;
#[doc(hidden)]
pub use hook::PublishPause;
pub use store::NatsStore;
pub use subject::Layout;
