#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

pub use aether_runtime::{
    bus, stored_actor_id, ActorConfig, ActorRef, AskError, AskOptions, BusError, Decision,
    DomainEvent, EventDecodeError, EventSourced, Published, Runtime, RuntimeBuilder,
    RuntimeStats, ShutdownTimeout, StartError, Subscription, SubscriptionFilter,
};

pub use aether_core::{
    async_trait, validate_actor_id, validate_batch, ActorSnapshot, BoxError, Event, EventStore,
    InMemoryStore, SnapshotStore, StoreError, Timestamp, VersionConflictError,
};

/// The store conformance suite (feature `testkit`); see [`aether_core::testkit`].
#[cfg(feature = "testkit")]
pub use aether_core::testkit;
#[cfg(feature = "testkit")]
pub use aether_core::{event_store_conformance, snapshot_store_conformance};

/// Paths used by code that aether's macros generate. Not public API: may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use aether_core;
    pub use aether_runtime;
    pub use serde;
    pub use serde_json;
}

/// The names most programs need, in one import: `use aether::prelude::*;`.
pub mod prelude {
    pub use aether_core::{
        ActorSnapshot, Event, EventStore, InMemoryStore, SnapshotStore, StoreError,
    };
}
