//! The aether runtime: event-sourced actors as tokio tasks.
//!
//! | Module | What it holds |
//! |---|---|
//! | `actor` | the traits a user implements: [`EventSourced`], [`DomainEvent`], [`Decision`] |
//! | `runtime`, `builder`, `config` | [`Runtime`] (shutdown, stats, the bus), [`RuntimeBuilder`], [`ActorConfig`] and its defaults |
//! | `actor_ref`, `options` | [`ActorRef`]: ask, tell, [`AskOptions`], [`ActorRef::applied`] |
//! | `registry` | which actors are live: spawn once, the idle sweep, passivation without loss |
//! | `mailbox` | the bounded channel to a task and the messages it carries |
//! | `task` | the actor task: start, the path of one command, recovery, supervision, snapshots |
//! | `context` | what every task shares: the stores, the bus, the clock, the counters |
//! | `idempotency` | command ids already applied, their versions and kept replies |
//! | `error`, `start_error` | [`AskError`], [`StartError`], [`ShutdownTimeout`] |
//! | [`bus`] | subscribing to persisted events in this process |
//! | [`upcast`] | reading events stored in older shapes: [`Upcasters`] |
//! | [`projection`] | read models fed from a store's feed: the runner, its status and controls |
//!
//! Each actor is a tokio task that owns its state and its version counter and takes
//! commands one at a time from a bounded mailbox. For each command it
//!
//! 1. *decides* ([`EventSourced::decide`], pure): the events to record and the reply;
//! 2. *records* them as [`Event`](aether_core::Event)s, versions `v+1..`, with fresh
//!    UUID v7 ids, the ask's command id and a timestamp;
//! 3. *applies* them ([`EventSourced::apply`]) to its state; a panic there stores
//!    nothing;
//! 4. *persists* them with one atomic append
//!    ([`append_events`](aether_core::EventStore::append_events), or
//!    [`save_events`](aether_core::EventStore::save_events) when the bus needs a copy);
//!    on any store error the state is rebuilt from the store;
//! 5. *replies*.
//!
//! On start an actor rehydrates from its latest snapshot plus the events after it. A
//! version conflict (another process writing the same actor) makes it rebuild from the
//! store and decide again, a bounded number of times. See [`Runtime`] for the registry,
//! passivation and shutdown, [`ActorRef`] for asking, [`AskError`] for what can go
//! wrong, and [`bus`] for subscribing to persisted events.
//!
//! # Where the traits live
//!
//! `../shared/DESIGN.md` puts [`EventSourced`] and [`DomainEvent`] in `aether-core`.
//! They live here instead: they name [`Decision`] and the decoding error, which only the
//! runtime uses, and a store never needs them. `aether-core` stays the store contract.
//!
//! # Stored actor ids
//!
//! Actor `id` of type `A` is stored as `"{A::ACTOR_TYPE}|{id}"` ([`stored_actor_id`]),
//! so two actor types never share a history even with equal ids.
//!
//! # Metrics
//!
//! With the `metrics` feature, counters and a latency histogram go through the
//! [`metrics`](https://docs.rs/metrics) facade, so any exporter (Prometheus, ...) works.
//! Measured figures (commands/s, bytes per idle actor) are in the repository's
//! `BENCHMARKS.md`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod actor;
mod actor_ref;
mod builder;
pub mod bus;
mod config;
mod context;
mod durable;
mod error;
mod id;
mod idempotency;
#[doc(hidden)]
pub mod macro_support;
mod mailbox;
mod obs;
mod options;
pub mod projection;
mod registry;
mod runtime;
mod start_error;
mod task;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod upcast;

pub use actor::{Decision, DomainEvent, EventDecodeError, EventSourced};
pub use actor_ref::ActorRef;
pub use builder::RuntimeBuilder;
pub use bus::{BusError, Published, Subscription, SubscriptionFilter};
pub use config::ActorConfig;
pub use error::{AskError, NotDelivered, ShutdownTimeout, StartError};
pub use id::{stored_actor_id, ACTOR_ID_SEPARATOR};
pub use idempotency::AppliedCommand;
pub use options::AskOptions;
pub use runtime::{Runtime, RuntimeStats};
pub use upcast::{decode_event, decode_event_ref, StoredShape, Upcasters};

/// An actor's state can be written to and read from a snapshot: it is `Serialize` and
/// `Deserialize`. Implemented for every such type; the bound of [`EventSourced`] that
/// says what to derive when it is missing (one error, at the state's type).
#[diagnostic::on_unimplemented(
    message = "the state of actor `{Self}` cannot be stored in snapshots: it is not `Serialize` and `Deserialize`",
    label = "an actor's state must be serializable",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (and to the types of its fields)"
)]
pub trait ActorState {
    /// The state as a snapshot's JSON.
    ///
    /// # Errors
    ///
    /// The state's `Serialize` failed (a map with non-string keys, a custom impl).
    fn to_snapshot_state(&self) -> Result<serde_json::Value, serde_json::Error>;

    /// The state from a snapshot's JSON.
    ///
    /// # Errors
    ///
    /// The JSON is not of this state's shape (a snapshot of an older shape).
    fn from_snapshot_state(state: serde_json::Value) -> Result<Self, serde_json::Error>
    where
        Self: Sized;
}

// No serde supertraits and `do_not_recommend`: a state without serde fails as "not
// `ActorState`", with the one message above, instead of one error per missing trait.
#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + serde::de::DeserializeOwned> ActorState for T {
    fn to_snapshot_state(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn from_snapshot_state(state: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(state)
    }
}
