//! The aether runtime: event-sourced actors as tokio tasks.
//!
//! Each actor is a tokio task that owns its state and its version counter and takes
//! commands one at a time from a bounded mailbox. For each command it
//!
//! 1. *decides* ([`EventSourced::decide`], pure): the events to record and the reply;
//! 2. *records* them as [`Event`](aether_core::Event)s, versions `v+1..`, with fresh
//!    UUID v7 ids, the ask's command id and a timestamp;
//! 3. *persists* them with one atomic [`save_events`](aether_core::EventStore::save_events);
//! 4. *applies* them ([`EventSourced::apply`]) and *replies*.
//!
//! On start an actor rehydrates from its latest snapshot plus the events after it. A
//! version conflict (another process writing the same actor) makes it catch up and
//! decide again, a bounded number of times. See [`Runtime`] for the registry,
//! passivation and shutdown, [`ActorRef`] for asking, [`AskError`] for what can go
//! wrong, and [`bus`] for subscribing to persisted events.
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
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod actor;
mod actor_ref;
pub mod bus;
mod channel;
mod config;
mod error;
mod idempotency;
mod mailbox;
mod obs;
mod runtime;
mod task;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use actor::{Decision, DomainEvent, EventDecodeError, EventSourced};
pub use actor_ref::{ActorRef, AskOptions};
pub use bus::{BusError, Published, Subscription, SubscriptionFilter};
pub use config::ActorConfig;
pub use error::{AskError, ShutdownTimeout, StartError};
pub use idempotency::AppliedCommand;
pub use runtime::{stored_actor_id, Runtime, RuntimeBuilder, RuntimeStats, ACTOR_ID_SEPARATOR};
