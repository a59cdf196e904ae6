//! [`InMemoryStore`]: a [`SnapshotStore`](crate::SnapshotStore) in process memory, for
//! tests and examples.
//!
//! - `store`: the store, its writes and reads;
//! - `history`: one actor's events, kept compactly ([`Record`](history::Record): the
//!   actor id and event type shared, the payload as JSON text);
//! - `feed`: the global log every save appends to, read as an
//!   [`EventFeed`](crate::EventFeed), and the projections' checkpoints.

mod feed;
mod history;
mod store;

pub use store::InMemoryStore;
