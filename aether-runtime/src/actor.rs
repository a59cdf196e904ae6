//! The two traits a user implements: [`EventSourced`] for an actor's state and
//! [`DomainEvent`] for its events.
//!
//! An event-sourced actor never changes its state directly. A command is first
//! *decided* against the current state ([`EventSourced::decide`], pure, no I/O), which
//! yields the events to persist and the reply; the runtime persists the events, then
//! *applies* them one by one ([`EventSourced::apply`]), then replies. On start the same
//! `apply` replays the stored history, so state is always a fold of the events.
//!
//! # Example
//!
//! A hand-written bank account (the derives in `aether-macros` write most of this):
//!
//! ```
//! use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
//! use serde::{Deserialize, Serialize};
//! use serde_json::{json, Value};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Account { balance: u64 }
//!
//! enum AccountEvent { Deposited { amount: u64 } }
//!
//! impl DomainEvent for AccountEvent {
//!     fn event_type(&self) -> &str { "Deposited" }
//!     fn to_data(&self) -> Result<Value, serde_json::Error> {
//!         let AccountEvent::Deposited { amount } = self;
//!         Ok(json!({ "amount": amount }))
//!     }
//!     fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
//!         match event_type {
//!             "Deposited" => Ok(AccountEvent::Deposited {
//!                 amount: data["amount"].as_u64().ok_or_else(|| {
//!                     EventDecodeError::invalid_data(event_type, "amount is not a u64")
//!                 })?,
//!             }),
//!             other => Err(EventDecodeError::unknown_type(other)),
//!         }
//!     }
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("amount must be positive")]
//! struct ZeroAmount;
//!
//! impl EventSourced for Account {
//!     const ACTOR_TYPE: &'static str = "Account";
//!     type Command = u64; // an amount to deposit
//!     type Event = AccountEvent;
//!     type Reply = ();
//!     type Error = ZeroAmount;
//!
//!     fn decide(&self, amount: &u64) -> Result<Decision<AccountEvent>, ZeroAmount> {
//!         if *amount == 0 {
//!             return Err(ZeroAmount);
//!         }
//!         Ok(Decision::emit(AccountEvent::Deposited { amount: *amount }))
//!     }
//!
//!     fn apply(&mut self, event: &AccountEvent) {
//!         match event {
//!             AccountEvent::Deposited { amount } => self.balance += amount,
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = std::sync::Arc::new(aether_core::InMemoryStore::new());
//! let runtime = aether_runtime::Runtime::new(store);
//! let account = runtime.actor::<Account>("acc-1");
//! account.ask(100).await.unwrap();
//! assert!(account.ask(0).await.unwrap_err().rejection().is_some());
//! # runtime.shutdown().await;
//! # });
//! ```

use std::fmt;

/// A domain event: a fact an actor records, with a stable name and a JSON payload.
///
/// The name becomes the stored [`Event::event_type`](aether_core::Event::event_type) and
/// the payload its [`data`](aether_core::Event::data), so stored events read like the
/// seed's (`"eventType": "Deposited", "data": {"amount": 100}`). `#[derive(DomainEvent)]`
/// writes this impl for enums and structs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a domain event",
    label = "the actor's `Event` type must implement `DomainEvent`",
    note = "add `#[derive(aether::DomainEvent)]` to `{Self}`, or implement `DomainEvent` by hand"
)]
pub trait DomainEvent: Sized + Send + Sync + 'static {
    /// The event's name, stored as `eventType`. Stable across versions of the program:
    /// renaming it makes old events undecodable.
    fn event_type(&self) -> &str;

    /// The event's payload, stored as `data`; normally a JSON object.
    ///
    /// # Errors
    ///
    /// When the payload cannot be represented as JSON (for example a map with non-string
    /// keys). The command that produced the event then fails and nothing is stored; so
    /// it does when the payload nests arrays and objects deeper than
    /// [`MAX_PAYLOAD_DEPTH`](aether_core::MAX_PAYLOAD_DEPTH), which no store accepts
    /// ([`AskError::Encode`](crate::AskError::Encode) in both cases).
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error>;

    /// Decodes a stored event back from its name and payload.
    ///
    /// # Errors
    ///
    /// [`EventDecodeError`] for an unknown `event_type` or a payload of the wrong shape.
    fn from_data(event_type: &str, data: &serde_json::Value) -> Result<Self, EventDecodeError>;

    /// Decodes a stored event from its name and its payload's JSON text, as a store that
    /// keeps JSON text lends it to replay
    /// ([`EventData::Json`](aether_core::EventData::Json)).
    ///
    /// The default parses the text into a `serde_json::Value` and calls
    /// [`from_data`](DomainEvent::from_data); `#[derive(Event)]` decodes straight from
    /// the text instead, which is what makes replay from such a store cheap. An
    /// override must accept what `from_data` accepts.
    ///
    /// # Errors
    ///
    /// As `from_data`; text that is not JSON is a payload of the wrong shape.
    fn from_json(event_type: &str, json: &str) -> Result<Self, EventDecodeError> {
        let data: serde_json::Value = serde_json::from_str(json)
            .map_err(|err| EventDecodeError::invalid_data(event_type, err))?;
        Self::from_data(event_type, &data)
    }
}

/// An event-sourced actor: its state, the commands it takes, the events it records.
///
/// The state is `Default` (an actor with no history) and serde-serializable (snapshots).
/// `#[derive(Actor)]` in `aether-macros` writes the associated items, and the
/// `#[aether::commands]` attribute turns plain methods into typed commands.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event-sourced actor",
    label = "this type does not implement `EventSourced`",
    note = "add `#[derive(aether::Actor)]` with `#[aether(event = ...)]`, or implement `EventSourced` by hand"
)]
pub trait EventSourced: Default + crate::ActorState + Send + 'static {
    /// The actor type's name. It prefixes the actor ids in the store
    /// (`"{ACTOR_TYPE}|{id}"`), so two actor types with the same id never share a
    /// history. Must be non-empty, must not contain `|`, and must not change once events
    /// are stored.
    const ACTOR_TYPE: &'static str;

    /// Snapshot every this many events, unless the runtime configures the type otherwise.
    /// `None` (the default) leaves it to the runtime's default policy.
    const SNAPSHOT_EVERY: Option<u64> = None;

    /// What the actor is asked to do.
    type Command: Send + 'static;
    /// What it records.
    type Event: DomainEvent;
    /// What a successful command answers. `Clone`: a retried command id gets a copy of
    /// the first reply (see [`ActorConfig::kept_replies`](crate::ActorConfig::kept_replies)).
    type Reply: Clone + Send + 'static;
    /// Why the domain refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides a command against the current state: the events to record and the reply,
    /// or the domain's refusal. Pure: no I/O, no mutation. It may run more than once for
    /// one command (after a version conflict with another writer the actor catches up
    /// and decides again).
    ///
    /// # Errors
    ///
    /// The domain's refusal; nothing is persisted and the caller gets
    /// [`AskError::Rejected`](crate::AskError::Rejected).
    fn decide(
        &self,
        command: &Self::Command,
    ) -> Result<Decision<Self::Event, Self::Reply>, Self::Error>;

    /// Folds one event into the state. Called for the events of a command before they
    /// are stored (if it panics, nothing is stored) and when replaying history; must not
    /// fail and must not do I/O.
    fn apply(&mut self, event: &Self::Event);

    /// The steps that turn stored events of older shapes into today's before they are
    /// decoded (see [`Upcasters`](crate::Upcasters)); none by default. Called once per
    /// runtime for the actor type. With `#[derive(Actor)]`:
    /// `#[aether(upcasters = my_upcasters)]`, naming a `fn() -> Upcasters`.
    fn upcasters() -> crate::Upcasters {
        crate::Upcasters::new()
    }
}

/// The outcome of [`EventSourced::decide`]: events to persist (possibly none) and the
/// reply to send once they are persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<E, R = ()> {
    /// The events to persist, in order. Empty for a query.
    pub events: Vec<E>,
    /// The answer the caller gets after the events are persisted and applied.
    pub reply: R,
}

impl<E, R> Decision<E, R> {
    /// Events to persist and a reply.
    pub fn new(events: Vec<E>, reply: R) -> Self {
        Decision { events, reply }
    }

    /// Only a reply, no events: a query, or a command that changes nothing.
    pub fn reply(reply: R) -> Self {
        Decision {
            events: Vec::new(),
            reply,
        }
    }

    /// Replaces the reply.
    pub fn with_reply<R2>(self, reply: R2) -> Decision<E, R2> {
        Decision {
            events: self.events,
            reply,
        }
    }
}

impl<E> Decision<E, ()> {
    /// One event, no reply value.
    pub fn emit(event: E) -> Self {
        Decision {
            events: vec![event],
            reply: (),
        }
    }

    /// Several events, persisted atomically, no reply value.
    pub fn emit_all(events: impl IntoIterator<Item = E>) -> Self {
        Decision {
            events: events.into_iter().collect(),
            reply: (),
        }
    }

    /// Nothing to persist, nothing to reply.
    pub fn none() -> Self {
        Decision {
            events: Vec::new(),
            reply: (),
        }
    }
}

/// A stored event could not be decoded into the actor's event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDecodeError {
    /// The stored event type.
    pub event_type: String,
    /// Why it could not be decoded.
    pub reason: String,
    unknown_type: bool,
}

impl EventDecodeError {
    /// The event type names no event of this actor.
    pub fn unknown_type(event_type: impl Into<String>) -> Self {
        let event_type = event_type.into();
        EventDecodeError {
            reason: format!("unknown event type {event_type:?}"),
            event_type,
            unknown_type: true,
        }
    }

    /// The event type is known but the payload does not fit it.
    pub fn invalid_data(event_type: impl Into<String>, reason: impl fmt::Display) -> Self {
        EventDecodeError {
            event_type: event_type.into(),
            reason: reason.to_string(),
            unknown_type: false,
        }
    }

    /// Whether the event type was unknown (rather than its payload malformed).
    pub fn is_unknown_type(&self) -> bool {
        self.unknown_type
    }
}

impl fmt::Display for EventDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unknown_type {
            f.write_str(&self.reason)
        } else {
            write!(
                f,
                "cannot decode event type {:?}: {}",
                self.event_type, self.reason
            )
        }
    }
}

impl std::error::Error for EventDecodeError {}
