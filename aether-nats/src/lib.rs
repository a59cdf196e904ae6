//! The NATS JetStream store for aether, the seed's own backend: [`NatsStore`] implements
//! [`EventStore`](aether_core::EventStore) and [`SnapshotStore`](aether_core::SnapshotStore),
//! and the read side, [`EventFeed`](aether_core::EventFeed) and
//! [`CheckpointStore`](aether_core::CheckpointStore) (see [Feed](#feed)).
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
//!   key `<token>`, value the seed's JSON of the snapshot;
//! - checkpoints: the key-value bucket `aether_orders_checkpoints` (history 1, file
//!   storage), created on first use rather than on connect, so that a namespace made by
//!   an earlier release needs nothing; key the projection name escaped like an actor id,
//!   value the position's `Display` form (`"17:2"`).
//!
//! `<token>` is the actor id escaped into `[A-Za-z0-9_-]` (letters, digits and `-` as
//! they are, every other byte as `_XX` in hex), reversible and collision-free for any
//! id; see [`subject`]. [`Layout`] computes all these names.
//!
//! # Files
//!
//! As in the other store crates: `store.rs` is [`NatsStore`] and its `EventStore` /
//! `SnapshotStore` impls, `builder.rs` [`NatsStoreBuilder`] and connecting (its
//! credentials and TLS settings in `builder/security.rs`, `auth.rs` the credentials
//! themselves and URLs without them), `error.rs` [`ConnectError`], `codec.rs` the wire
//! format, `subject.rs` the backend layout ([`Layout`], the id encoding); `reader.rs`
//! reads an actor's history. `feed.rs` is the `EventFeed` impl (head, lag, wake-ups),
//! `feed/cursor.rs` the page read and the read cursors, `checkpoint.rs` the `CheckpointStore` impl, `tails.rs` the remembered end of
//! each actor's subject. There is no `writer.rs`: a save is one publish, made by the
//! caller's task (the server orders writers).
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
//! The version check is done by the server: every save publishes with the header
//! `Nats-Expected-Last-Subject-Sequence`, the stream sequence of the actor's last
//! message as the save knows it, and the server stores the batch only if that is still
//! the subject's last message. The store remembers, per actor, the last batch it saw (its
//! last version and sequence, from its own publish acknowledgements and from its reads;
//! see [`NatsStoreBuilder::tail_cache`]), so a save of an actor it knows, such as a live
//! actor's (which read its history when it started), is **one round trip**: it refuses a
//! version not above the remembered one with
//! [`StoreError::VersionConflict`](aether_core::StoreError::VersionConflict) (the current
//! version it reports is then read from the stream leader), and publishes otherwise. For
//! an actor it does not know, it first reads the subject's newest message (a direct get).
//! If any other writer, in this process or another, appended after the tail the save
//! knew (or that tail came from a lagging replica), the server rejects the publish (wrong
//! last sequence) and the save reads the head again, from the leader: it conflicts with
//! the newer version, or, when its batch is still ahead of it (gaps are allowed),
//! publishes after it. The remembered tail is only ever a guess that the server checks:
//! a stale one costs a rejected publish and a read, never a lost, doubled or wrongly
//! versioned event, and a writer elsewhere is always seen.
//!
//! Snapshots are written with compare-and-set on the key's revision: the stored
//! snapshot is read, kept if its version is higher than the new one (latest = highest
//! version), and otherwise replaced only if nobody replaced it meanwhile.
//!
//! # Reads
//!
//! Reads ask the stream leader, so they see every acknowledged write: a direct get when
//! the events stream has one replica (its one server is the leader; a direct get is
//! answered without queueing behind other JetStream API requests), else a JetStream API
//! message get. `get_latest_version` is one such get (the last message of the subject).
//! `get_events(actor, from)` reads that last message first; if `from` falls inside it
//! (the usual case after a snapshot) that is the only request. Otherwise it walks back:
//! every message aether stores carries the `Nats-Expected-Last-Subject-Sequence` it was
//! published with, which the server checked, so it names the subject's previous message,
//! and each earlier batch is one direct get by that sequence (answered from the server's
//! index, without a scan), until the batch that holds `from` or the subject's first
//! message. After 32 batches, or at a message without that header (written by another
//! client), the older part is read forward: a binary search over stream sequences (direct
//! gets of "the actor's next message at or after sequence s"; versions grow along the
//! stream) finds where the actor's batches reach `from`, and a few direct gets or, for a
//! long history, a short-lived ephemeral pull consumer filtered on the actor's subject
//! stream them. Batches wholly below `from` are skipped by their headers without being
//! parsed. Reads remember where the subject ends, so the next save needs no read. Undecodable messages are
//! [`StoreError::Serialization`](aether_core::StoreError::Serialization) errors that name
//! the actor, the version (from the headers, when readable) and the stream sequence.
//!
//! # Feed
//!
//! Every event of the namespace, in one total order, from any [`Position`](aether_core::Position):
//!
//! - **Positions.** `Position::new(stream_sequence, index)`: the sequence the server gave
//!   the batch's message in the events stream, and the event's place in that batch (0 for
//!   a batch of one). `"17:2"` is the third event of the batch stored as message 17.
//! - **Never skips.** The server assigns stream sequences in storage order, one message at
//!   a time, and a message is readable once it has its sequence; a batch is one message,
//!   stored whole. So when a read has seen the stream up to sequence `s`, every message
//!   stored later gets a sequence above `s`: a reader resuming after a position misses
//!   nothing, however writers race (the conformance suite checks it with 8 racing writers
//!   and two tailing readers). Sequences may have gaps; nothing relies on them being dense.
//! - **Reading.** [`read_feed(after, ..)`](aether_core::EventFeed::read_feed) returns the rest
//!   of message `after.commit()` after index `after.index()`, then the later messages. Pages
//!   are read through an ephemeral pull consumer (acknowledgements off, memory state)
//!   starting at `after.commit()`; after the read it is kept, with any messages it delivered
//!   that the page did not use, under the page's `next`, so the next read after that
//!   position is one pull request, not a new consumer (at most 32 kept per store handle,
//!   least recently used dropped; a kept one unused for 2 minutes, or made before a
//!   reconnect, is replaced; the server deletes a forgotten one after 5 minutes). nats-server
//!   2.9 has no batched direct get (2.11 does), hence consumers. On a loaded 2-core
//!   machine, reading 100,000 single-event messages in pages of 1,000 ran at about 47,000
//!   events/s (a bare pull consumer, not decoding: 80,000 messages/s); see the
//!   `feed_read_rate` example.
//! - **Filters.** The actor type is taken from the message's subject token, so messages of
//!   other actor types are skipped without decoding their payload; event types are checked
//!   after decoding. A page's `next` moves past messages the filter left out, and one read
//!   looks at no more than 8,192 messages (it may return fewer events than asked, even
//!   none, with `next` moved on).
//! - **Head and lag.** [`feed_head`](aether_core::EventFeed::feed_head) is the last event of
//!   the stream's last message (from the stream info, then that message).
//!   [`feed_lag`](aether_core::EventFeed::feed_lag) counts **events**, exactly: it sums the
//!   `Aether-Event-Count` header of every message after the position, read by a headers-only
//!   consumer up to the last sequence when the call began (a message without the header is
//!   fetched whole). It costs a scan of the lag (about 65,000 messages/s on the same
//!   machine), so it is meant for monitoring, not for every page.
//! - **Wake-ups.** The first [`wait_for_events`](aether_core::EventFeed::wait_for_events) of
//!   a store handle subscribes (core NATS) to the events subjects; every message published
//!   there, by any process, wakes the handle's waiting readers, and so does every save made
//!   through the handle. A wait returns at once when the stream already holds events after
//!   the position, else on a wake-up, else after the poll interval
//!   ([`NatsStoreBuilder::feed_poll_interval`], default [`DEFAULT_FEED_POLL_INTERVAL`],
//!   100 ms), which also covers a wake-up missed during a reconnect. The subscription
//!   receives each saved batch's payload, so only handles that wait pay for it.
//! - **Errors.** A failed request is
//!   [`FeedError::Backend`](aether_core::FeedError::Backend) naming the position read after.
//!   A message on the stream that is not an aether event (a payload that does not decode,
//!   a subject token that no actor id encodes to) is
//!   [`FeedError::Serialization`](aether_core::FeedError::Serialization) naming its position,
//!   actor and version, never a panic; the events before it in the page are returned
//!   first, so the error names the exact place. Checkpoint failures are
//!   [`FeedError::Checkpoint`](aether_core::FeedError::Checkpoint) naming the projection.
//! - **At-least-once.** NATS has no transaction spanning the checkpoint bucket and a read
//!   model, so there is no exactly-once sink here: projections on NATS are at-least-once
//!   ([`AtLeastOnce`](aether_core::AtLeastOnce), with the store as the
//!   [`CheckpointStore`](aether_core::CheckpointStore)); a projection that crashes between
//!   applying events and saving its checkpoint sees those events again, so its handlers
//!   must be idempotent.
//!
//! ```no_run
//! use aether_core::{CheckpointStore, EventFeed, FeedFilter, Position};
//! use aether_nats::NatsStore;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = NatsStore::connect("nats://127.0.0.1:4222").await?;
//! let after = store.load_checkpoint("balances").await?.unwrap_or(Position::START);
//! let page = store.read_feed(after, &FeedFilter::all().actor_type("Account"), 500).await?;
//! for fed in &page.events {
//!     println!("{} {}", fed.position, fed.event.event_type);
//! }
//! store.save_checkpoint("balances", page.next).await?;
//! # Ok(())
//! # }
//! ```
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
//! one message) whether or not anyone waits for the acknowledgement (the remembered tail
//! is then stale, and the next save finds out from the server). Read the actor's latest version to know; saving the same
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

mod auth;
mod builder;
mod checkpoint;
mod codec;
mod error;
mod feed;
mod hook;
mod reader;
mod store;
pub mod subject;
mod tails;

pub use auth::redact_url;
pub use builder::{NatsStoreBuilder, DEFAULT_NAMESPACE, DEFAULT_TAIL_CACHE};
pub use error::ConnectError;
pub use feed::DEFAULT_FEED_POLL_INTERVAL;
#[doc(hidden)]
pub use hook::PublishPause;
pub use store::NatsStore;
pub use subject::Layout;
