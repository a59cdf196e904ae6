#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

pub use aether_runtime::{
    bus, stored_actor_id, ActorConfig, ActorRef, AskError, AskOptions, BusError, Decision,
    DomainEvent, EventDecodeError, EventSourced, Published, Runtime, RuntimeBuilder, RuntimeStats,
    ShutdownTimeout, StartError, Subscription, SubscriptionFilter,
};

pub use aether_core::{
    async_trait, validate_actor_id, validate_batch, ActorSnapshot, BoxError, Event, EventStore,
    InMemoryStore, SnapshotStore, StoreError, Timestamp, VersionConflictError,
};

/// Testing actors and stores (feature `testkit`).
///
/// - The actor test kit, [`TestKit`](testkit::TestKit): given events, when a command, then
///   the expected events, error or reply, with no runtime and no store; and
///   [`in_memory_runtime`](testkit::in_memory_runtime) for tests that need a whole runtime.
///   See [`aether_runtime::testkit`].
/// - The store conformance suite, [`conformance`](testkit::conformance) (also re-exported
///   here: [`cases`](testkit::cases), [`seed_vectors`](testkit::seed_vectors)), run with
///   [`event_store_conformance!`] and [`snapshot_store_conformance!`].
#[cfg(feature = "testkit")]
pub mod testkit {
    pub use aether_core::testkit as conformance;
    pub use aether_core::testkit::{cases, seed_vectors, SeedVectors, SEED_JSON};
    pub use aether_runtime::testkit::*;
}
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

    /// What `#[derive(Actor)]` says about an actor; `#[aether::commands]` builds
    /// `EventSourced` from it.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` has no `#[derive(aether::Actor)]`",
        label = "the actor of this `#[aether::commands]` block",
        note = "add `#[derive(aether::Actor)]` and `#[aether(event = YourEvent)]` to the struct `{Self}`"
    )]
    pub trait ActorMeta {
        /// `EventSourced::ACTOR_TYPE`.
        const ACTOR_TYPE: &'static str;
        /// `EventSourced::SNAPSHOT_EVERY`.
        const SNAPSHOT_EVERY: Option<u64>;
        /// `EventSourced::Event`.
        type Event: aether_runtime::DomainEvent;
    }

    /// The event type `apply` takes in a `#[aether::commands]` block (used when the
    /// derive's `event = ...` is missing, so that error stays the only one).
    pub trait ApplyEvent {
        /// The type behind `apply`'s `&Event`.
        type Event;
    }

    /// `apply`'s event type is the one `#[derive(Actor)]` declares.
    #[diagnostic::on_unimplemented(
        message = "`apply` takes `&{Self}`, but `#[aether(event = ...)]` declares `{E}`",
        label = "expected `{E}` here",
        note = "an actor records one event type: make `apply` take `&{E}`, or change `#[aether(event = ...)]`"
    )]
    pub trait EventIs<E> {}
    impl<E> EventIs<E> for E {}

    /// Compiles only when `A` is `E` (see [`EventIs`]).
    pub fn assert_event_is<A: EventIs<E>, E>() {}

    /// An enum event serialized by serde is externally tagged (`{"Deposited": {...}}`):
    /// the payload is the tag's value.
    pub fn untag_event_data(tagged: serde_json::Value) -> serde_json::Value {
        match tagged {
            serde_json::Value::Object(map) if map.len() == 1 => map
                .into_iter()
                .next()
                .map(|(_, data)| data)
                .unwrap_or_default(),
            other => other,
        }
    }
}

#[cfg(feature = "macros")]
pub use aether_macros::{commands, Actor, DomainEvent};

/// The names most programs need, in one import: `use aether::prelude::*;`.
pub mod prelude {
    pub use aether_core::{
        ActorSnapshot, Event, EventStore, InMemoryStore, SnapshotStore, StoreError,
    };
}

/// The embedded default store: one SQLite file, WAL, group commit (feature `sqlite`, on
/// by default). See [`aether_sqlite`] for layout, durability and configuration.
///
/// A runtime on a SQLite file is one call:
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), aether::sqlite::OpenError> {
/// let runtime = aether::sqlite::runtime("bank.db").await?;
/// # drop(runtime);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use aether_sqlite::*;

    /// A [`Runtime`](crate::Runtime) with default settings over the SQLite file at
    /// `path` (created if absent), durable against power loss
    /// ([`Synchronous::Full`]). For other settings, open the store with
    /// [`SqliteStore::builder`] and pass it to [`Runtime::builder`](crate::Runtime::builder).
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the file cannot be opened or holds an unknown schema.
    pub async fn runtime(path: impl AsRef<std::path::Path>) -> Result<crate::Runtime, OpenError> {
        let store = SqliteStore::open(path).await?;
        Ok(crate::Runtime::new(std::sync::Arc::new(store)))
    }
}

/// The PostgreSQL store (feature `postgres`). See [`aether_postgres`].
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use aether_postgres::*;
}

/// The NATS JetStream store, the seed's own backend (feature `nats`). See [`aether_nats`].
#[cfg(feature = "nats")]
pub mod nats {
    pub use aether_nats::*;
}
