//! The data contract of aether: what is stored, and the traits a store implements.
//!
//! - [`Event`] and [`ActorSnapshot`]: the records, in the seed's JSON wire format.
//! - [`EventStore`] and [`SnapshotStore`]: the async store traits, with optimistic
//!   concurrency on versions ([`VersionConflictError`]).
//! - [`StoreError`]: the one error type of stores.
//! - [`EventFeed`]: the read side, every event in one total order from a [`Position`],
//!   in pages or live ([`follow`]); [`CheckpointStore`] keeps projections' positions.
//! - [`InMemoryStore`]: a store in process memory.
//! - [`validate_batch`], [`encode_batch`], [`submit_write`], [`validate_actor_id`]: what
//!   every store's implementation starts with, written once.
//! - [`MAX_PAYLOAD_DEPTH`]: how deeply an event's data may nest arrays and objects
//!   ([`json_depth`], [`check_payload_depth`]); deeper data would not read back.
//! - `testkit` (feature `testkit`): the conformance suite every store runs.
//!
//! # Writing your own store
//!
//! Implement [`EventStore`] (and [`SnapshotStore`] if you keep snapshots); read their
//! "Cancel safety" sections, which say what a dropped call may leave behind. Its
//! [`replay_events`](EventStore::replay_events) has a default (through `get_events`);
//! override it when your store can lend its records without copying them, or keeps each
//! payload as JSON text (actors then decode from the text directly). The
//! functions the stores of this repository share are public, for yours too:
//! [`validate_batch`] and [`validate_actor_id`] (the checks every store makes before
//! asking its backend), [`encode_batch`] (the opening of `save_events`) and
//! [`submit_write`] (queueing a write for a writer task and awaiting its answer). Then
//! run the conformance suite against it from a test file of your crate, with
//! `aether-core = { version = "…", features = ["testkit"] }` and tokio (features
//! `macros`, `rt-multi-thread`) in your dev-dependencies:
//!
//! ```no_run
//! // tests/conformance.rs: one #[tokio::test] per case of the suite.
//! aether_core::snapshot_store_conformance!(aether_core::InMemoryStore::new());
//! # fn main() {}
//! ```
//!
//! `examples/custom_store.rs` in the aether repository is a complete small store that
//! passes the suite.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod depth;
mod error;
mod event;
mod feed;
mod memory;
mod projection;
mod store;
mod support;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use async_trait::async_trait;
pub use depth::{check_payload_depth, json_depth, PayloadTooDeep, MAX_PAYLOAD_DEPTH};
pub use error::{BoxError, StoreError, VersionConflictError};
pub use event::{ActorSnapshot, Event, EventData, EventRef, Timestamp};
pub use feed::{
    actor_type_of, follow, validate_feed_read, validate_projection_name, CheckpointStore, Decoded,
    EventFeed, EventIdentity, FeedDecode, FeedError, FeedEvent, FeedFilter, FeedItem, FeedPage,
    FeedVisitor, ItemPage, ParsePositionError, Position, VisitedPage, ACTOR_TYPE_SEPARATOR,
};
pub use memory::InMemoryStore;
pub use projection::{AtLeastOnce, HandlerError, Projection, ProjectionSink, SinkError};
pub use store::{EventStore, SnapshotStore};
pub use support::{
    encode_batch, submit_write, validate_actor_id, validate_batch, EncodedBatch, WriteReply,
};
