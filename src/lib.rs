// The README (compiled as the crate docs) uses the derive macros and the SQLite store.
#![cfg_attr(all(feature = "sqlite", feature = "macros"), doc = include_str!("../README.md"))]
#![cfg_attr(
    not(all(feature = "sqlite", feature = "macros")),
    doc = "Event-sourced actors for tokio. The full guide is README.md (built as these docs with the default features)."
)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

pub use aether_runtime::{
    bus, decode_event, decode_event_ref, projection, stored_actor_id, upcast, ActorConfig,
    ActorRef, ActorState, AppliedCommand, AskError, AskOptions, BusError, Decision, DomainEvent,
    EventDecodeError, EventSourced, NotDelivered, Published, Runtime, RuntimeBuilder, RuntimeStats,
    ShutdownTimeout, StartError, StoredShape, Subscription, SubscriptionFilter, Upcasters,
};

pub mod connect;
pub use connect::{connect, redact_url, AnyStore, ConnectUrlError, Store, StoreKind};

pub use aether_core::{
    async_trait, validate_actor_id, validate_batch, ActorSnapshot, BoxError, Event, EventStore,
    InMemoryStore, SnapshotStore, StoreError, Timestamp, VersionConflictError, MAX_PAYLOAD_DEPTH,
};

/// The read side: every event of a store in one order ([`EventFeed`](feed::EventFeed)),
/// read from a [`Position`](feed::Position) in pages or followed live
/// ([`follow`](feed::follow)), and where projections keep their checkpoints
/// ([`CheckpointStore`](feed::CheckpointStore)). Projections themselves are in
/// [`projection`].
pub mod feed {
    pub use aether_core::{
        actor_type_of, follow, AtLeastOnce, CheckpointStore, Decoded, EventData, EventFeed,
        EventIdentity, EventRef, FeedDecode, FeedError, FeedEvent, FeedFilter, FeedItem, FeedPage,
        FeedVisitor, HandlerError, ItemPage, ParsePositionError, Position, Projection,
        ProjectionSink, SinkError, VisitedPage,
    };
}

/// Testing actors and stores (feature `testkit`).
///
/// - The actor test kit, [`TestKit`](testkit::TestKit): given events, when a command, then
///   the expected events, error or reply, with no runtime and no store; and
///   [`in_memory_runtime`](testkit::in_memory_runtime) for tests that need a whole runtime.
///   See [`aether_runtime::testkit`].
/// - [`account`](testkit::account): a ready-made hand-written actor, a bank account (open,
///   deposit, withdraw, a multi-event command, a query, panics on purpose), to try things
///   with; the project's own tests, examples and benchmarks share it.
/// - The store conformance suite, [`conformance`](testkit::conformance) (also re-exported
///   here: [`cases`](testkit::cases), [`seed_vectors`](testkit::seed_vectors)), run with
///   [`event_store_conformance!`] and [`snapshot_store_conformance!`].
/// - [`FaultyStore`](testkit::FaultyStore): wraps any store and fails, delays, times out or
///   loses the acknowledgement of a seeded share of its calls.
#[cfg(feature = "testkit")]
pub mod testkit {
    pub use aether_core::testkit as conformance;
    pub use aether_core::testkit::{cases, seed_vectors, SeedVectors, SEED_JSON};
    pub use aether_core::testkit::{
        FaultKind, FaultStats, FaultyStore, FaultyStoreBuilder, InjectedFault, OpFaults, StoreOp,
    };
    pub use aether_runtime::testkit::*;
}
#[cfg(feature = "testkit")]
pub use aether_core::{event_store_conformance, feed_conformance, snapshot_store_conformance};

/// Paths used by code that aether's macros generate. Not public API: may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use aether_core;
    pub use aether_runtime;
    pub use serde;
    pub use serde_json;

    pub use aether_runtime::macro_support::*;

    /// A type that crosses the wire between cluster members as JSON: the domain error of
    /// an actor whose block is `#[aether::commands(cluster)]`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` crosses the wire between cluster members, but it is not `Serialize` and `Deserialize`",
        label = "the error type of a `#[aether::commands(cluster)]` actor",
        note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`"
    )]
    pub trait ClusterWire {}

    #[diagnostic::do_not_recommend]
    impl<T: serde::Serialize + serde::de::DeserializeOwned> ClusterWire for T {}

    /// Compiles only for a [`ClusterWire`] type.
    pub fn assert_cluster_wire<T: ClusterWire>() {}
}

/// Derives [`DomainEvent`](trait@DomainEvent) for an enum (one event per variant) or a
/// struct (one event).
///
/// - `event_type` is the variant's (or struct's) name; `#[aether(rename = "Name")]`
///   overrides it. Two events with one name are a compile error.
/// - `#[aether(alias = "OldName")]` (repeatable) also decodes events stored under an
///   older name, for a variant renamed after events were stored; new events are stored
///   under the current name. A renamed or added field keeps old events readable with
///   `#[serde(alias = "old")]` or `#[serde(default)]`.
/// - `to_data` is the named fields as a JSON object (`{"amount": 100}`); a unit variant
///   gives `{}` (and decodes from `{}` or `null`); a tuple variant with one field stores
///   that field's own serde value (`Transferred(Transfer)` stores the `Transfer` object).
///   Tuple variants with several fields are a compile error: name the fields.
/// - `from_data` gives [`EventDecodeError::unknown_type`] for a name it does not know and
///   [`EventDecodeError::invalid_data`] for a payload that does not fit. Unknown fields
///   are ignored.
/// - Field-level `#[serde(...)]` attributes (`rename`, `default`, `skip_serializing_if`,
///   `with`, ...) apply to the payload in both directions; the event type itself needs
///   no serde derive. Generic event types are not supported.
///
/// ```
/// use aether::DomainEvent;
/// use serde_json::json;
///
/// #[derive(Debug, PartialEq, DomainEvent)]
/// enum AccountEvent {
///     /// Stored as "Credited" by older builds.
///     #[aether(alias = "Credited")]
///     Deposited {
///         amount: u64,
///         #[serde(default)] // added later: old events have none
///         memo: String,
///     },
///     #[aether(rename = "AccountClosed")]
///     Closed,
/// }
///
/// let event = AccountEvent::Deposited { amount: 100, memo: String::new() };
/// assert_eq!(event.event_type(), "Deposited");
/// assert_eq!(event.to_data().unwrap(), json!({"amount": 100, "memo": ""}));
/// // An event an older build stored: the old name, no memo.
/// assert_eq!(AccountEvent::from_data("Credited", &json!({"amount": 100})).unwrap(), event);
/// assert_eq!(AccountEvent::Closed.event_type(), "AccountClosed");
/// assert!(AccountEvent::from_data("Opened", &json!({})).unwrap_err().is_unknown_type());
/// ```
#[cfg(feature = "macros")]
pub use aether_macros::DomainEvent;

/// Derives an actor's metadata on its state struct:
/// `#[aether(event = AccountEvent, snapshot_every = 100, actor_type = "Account")]`.
///
/// - `event` (required): the actor's [`DomainEvent`](trait@DomainEvent) type.
/// - `snapshot_every` (optional): [`EventSourced::SNAPSHOT_EVERY`]; left out, the
///   runtime's policy decides.
/// - `actor_type` (optional, default: the struct's name): [`EventSourced::ACTOR_TYPE`],
///   the prefix of stored actor ids; non-empty, without `|`.
/// - `upcasters` (optional): a `fn() -> aether::Upcasters` that reads events stored in
///   older shapes ([`EventSourced::upcasters`]; see [`Upcasters`]).
///
/// The derive goes with [`#[commands]`](commands) on the struct's `impl` block; together
/// they write [`EventSourced`] (the derive writes the impl, at the struct, so a state
/// that is not `Default` or not serializable is reported there); see [`commands`] for a
/// complete actor.
#[cfg(feature = "macros")]
pub use aether_macros::Actor;

/// Turns an actor's `impl` block into its commands, queries and `apply`, and gives
/// [`ActorRef<Actor>`](ActorRef) one typed method per command.
///
/// In the block (all methods take `&self`, except `apply`; no `async`, no generics;
/// helpers go in another `impl` block):
///
/// | The method returns | It is | It records | The caller gets |
/// |---|---|---|---|
/// | `Result<Event, E>` | a command | one event | `()` |
/// | `Result<Vec<Event>, E>` | a command | the events, atomically | `()` |
/// | `Result<Option<Event>, E>` | a command | zero or one event | `()` |
/// | `Result<(), E>` | a check | nothing | `()` |
/// | `Result<(R, Vec<Event>), E>` | a command | the events | `R` |
/// | `Result<Decision<Event, R>, E>` | a command | `decision.events` | `R` |
/// | `T` (not a `Result`) | a query | nothing | `T` |
/// | `fn apply(&mut self, event: &Event)` | [`EventSourced::apply`] | | |
///
/// Every `Result` names the same error type `E`, the actor's [`EventSourced::Error`]
/// (`Infallible` if no method can fail); queries cannot fail. Arguments are owned and
/// `Clone` (a command may be decided again after a version conflict); replies are owned
/// and `Clone` (a retried command id is answered with a copy of the first reply).
///
/// A method that returns the actor's events without a `Result` (`Event`, `Vec<Event>`,
/// `Option<Event>`, `(R, Vec<Event>)`, `Decision<Event, R>`) is a compile error, not a
/// query: as a query it would record nothing. Write `Result<Event, E>`
/// (`E` = `std::convert::Infallible` if it cannot fail). A query that really answers with
/// events names them through a type of its own (`type History = Vec<AccountEvent>;`).
///
/// For an actor `Account` it generates, with the widest visibility of the methods:
///
/// - `AccountCommand`: an enum with one variant per method (`deposit(amount)` becomes
///   `AccountCommand::Deposit { amount }`), the actor's [`EventSourced::Command`]. Send it
///   with [`ActorRef::ask`] / [`tell`](ActorRef::tell), or give it to the test kit.
/// - `AccountReply`: one variant per method holding its reply, [`EventSourced::Reply`].
/// - `AccountCommands`: a trait implemented for `ActorRef<Account>`, with
///   `deposit(amount)` and `deposit_with(amount, options)` for each method, both
///   returning `Result<Reply, AskError<E>>` futures. [`AskOptions`] sets a command id
///   (idempotency: a retried id is not applied again; it gets the first reply, or
///   [`AskError::Duplicate`] with the versions once the reply is no longer kept) and a
///   timeout. The methods carry the doc comments of the methods they call.
/// - `impl EventSourced for Account`.
///
/// `#[aether::commands(cluster)]` makes the actor ready for `aether::cluster` (feature
/// `cluster`), where commands, replies and errors cross the wire between members as
/// JSON: `AccountCommand` and `AccountReply` also derive `Serialize` and `Deserialize`
/// (so argument and reply types must be serde), and an error type that is not serde is
/// a compile error at the error type saying to add
/// `#[derive(serde::Serialize, serde::Deserialize)]`.
///
/// ```
/// use aether::{Actor, AskOptions, DomainEvent};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, DomainEvent)]
/// enum AccountEvent {
///     Deposited { amount: u64 },
///     Withdrawn { amount: u64 },
/// }
///
/// #[derive(Debug, PartialEq)]
/// enum AccountError {
///     Insufficient { balance: u64 },
/// }
/// impl std::fmt::Display for AccountError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "insufficient funds")
///     }
/// }
/// impl std::error::Error for AccountError {}
///
/// #[derive(Debug, Default, Serialize, Deserialize, Actor)]
/// #[aether(event = AccountEvent, snapshot_every = 100)]
/// struct Account {
///     balance: u64,
/// }
///
/// #[aether::commands]
/// impl Account {
///     /// Adds `amount` to the balance.
///     fn deposit(&self, amount: u64) -> Result<AccountEvent, AccountError> {
///         Ok(AccountEvent::Deposited { amount })
///     }
///
///     /// Takes `amount` out; answers the new balance.
///     fn withdraw(&self, amount: u64) -> Result<(u64, Vec<AccountEvent>), AccountError> {
///         if amount > self.balance {
///             return Err(AccountError::Insufficient { balance: self.balance });
///         }
///         Ok((self.balance - amount, vec![AccountEvent::Withdrawn { amount }]))
///     }
///
///     /// The current balance.
///     fn balance(&self) -> u64 {
///         self.balance
///     }
///
///     fn apply(&mut self, event: &AccountEvent) {
///         match event {
///             AccountEvent::Deposited { amount } => self.balance += amount,
///             AccountEvent::Withdrawn { amount } => self.balance -= amount,
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let runtime = aether::Runtime::new(std::sync::Arc::new(aether::InMemoryStore::new()));
/// let account = runtime.actor::<Account>("a1");
/// account.deposit(100).await.unwrap();
/// assert_eq!(account.withdraw(30).await.unwrap(), 70);
/// assert!(account.withdraw(500).await.unwrap_err().rejection().is_some());
/// account.deposit_with(5, AskOptions::new().command_id("pay-1")).await.unwrap();
/// // A retry of the same command id gets the first reply; the deposit is applied once.
/// account.deposit_with(5, AskOptions::new().command_id("pay-1")).await.unwrap();
/// assert_eq!(account.balance().await.unwrap(), 75);
/// # runtime.shutdown().await;
/// # }
/// ```
#[cfg(feature = "macros")]
pub use aether_macros::commands;

/// The names most programs need, in one import: `use aether::prelude::*;`.
///
/// The runtime and its handles, the errors to match on, the traits and their derives
/// (feature `macros`), and the stores of the enabled features.
///
/// ```
/// use aether::prelude::*;
///
/// #[derive(Debug, Clone, DomainEvent)]
/// enum CounterEvent {
///     Bumped,
/// }
///
/// #[derive(Debug, Default, serde::Serialize, serde::Deserialize, Actor)]
/// #[aether(event = CounterEvent)]
/// struct Counter {
///     count: u64,
/// }
///
/// #[commands]
/// impl Counter {
///     fn bump(&self) -> Result<CounterEvent, std::convert::Infallible> {
///         Ok(CounterEvent::Bumped)
///     }
///     fn count(&self) -> u64 {
///         self.count
///     }
///     fn apply(&mut self, _: &CounterEvent) {
///         self.count += 1;
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), AskError<std::convert::Infallible>> {
///     let runtime = Runtime::new(std::sync::Arc::new(InMemoryStore::new()));
///     let counter: ActorRef<Counter> = runtime.actor("c-1");
///     counter.bump().await?;
///     assert_eq!(counter.count().await?, 1);
///     runtime.shutdown().await;
///     Ok(())
/// }
/// ```
pub mod prelude {
    pub use aether_core::{EventStore, InMemoryStore, SnapshotStore, StoreError};
    pub use aether_runtime::{
        ActorRef, AskError, AskOptions, Decision, DomainEvent, EventSourced, Runtime, StartError,
    };

    #[cfg(feature = "macros")]
    pub use aether_macros::{commands, Actor, DomainEvent};
    #[cfg(feature = "nats")]
    pub use aether_nats::NatsStore;
    #[cfg(feature = "postgres")]
    pub use aether_postgres::PostgresStore;
    #[cfg(feature = "sqlite")]
    pub use aether_sqlite::SqliteStore;
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

/// The cluster layer on NATS (feature `cluster`): members, one live owner per actor,
/// asks routed to it from any member, handover and failover. See [`aether_cluster`].
#[cfg(feature = "cluster")]
pub mod cluster {
    pub use aether_cluster::*;
}
