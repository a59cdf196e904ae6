//! The data contract of aether: what is stored, and the traits a store implements.
//!
//! - [`Event`] and [`ActorSnapshot`]: the records, in the seed's JSON wire format.
//! - [`EventStore`] and [`SnapshotStore`]: the async store traits, with optimistic
//!   concurrency on versions ([`VersionConflictError`]).
//! - [`StoreError`]: the one error type of stores.
//! - [`InMemoryStore`]: a store in process memory.
//! - `testkit` (feature `testkit`): the conformance suite every store runs.
//!
//! # Writing your own store
//!
//! Implement [`EventStore`] (and [`SnapshotStore`] if you keep snapshots), using
//! [`validate_batch`] for the checks every store makes before writing. Then run the
//! conformance suite against it from a test file of your crate, with
//! `aether-core = { version = "…", features = ["testkit"] }` and tokio in your
//! dev-dependencies:
//!
//! ```ignore
//! // tests/conformance.rs
//! aether_core::snapshot_store_conformance!(my_crate::MyStore::new());
//! ```
//!
//! `examples/custom_store.rs` in the aether repository is a complete small store that
//! passes the suite.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod error;
mod event;
mod memory;
mod store;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use async_trait::async_trait;
pub use error::{BoxError, StoreError, VersionConflictError};
pub use event::{ActorSnapshot, Event, Timestamp};
pub use memory::InMemoryStore;
pub use store::{validate_actor_id, validate_batch, EventStore, SnapshotStore};
