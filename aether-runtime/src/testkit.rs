//! Testing actors (feature `testkit`): given past events, when a command, then the
//! expected events, error or reply, with no runtime and no store.
//!
//! [`TestKit`] runs an actor's [`decide`](EventSourced::decide) and
//! [`apply`](EventSourced::apply) directly, the way the runtime would, like cqrs-es's
//! `TestFramework` or Akka's `EventSourcedBehaviorTestKit`. It also checks what the
//! runtime relies on: every given and produced event encodes with
//! [`to_data`](DomainEvent::to_data) and decodes back with
//! [`from_data`](DomainEvent::from_data) under the same event type, and the produced
//! events apply to the state. The `then_*` methods panic with a message naming what
//! differed (it is a test helper), and return the outcome for more checks.
//!
//! For tests that need the whole runtime (mailboxes, persistence, idempotency),
//! [`in_memory_runtime`] starts one on an [`InMemoryStore`].
//!
//! # Examples
//!
//! ```
//! # extern crate aether_runtime as aether;
//! # use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
//! # use serde_json::{json, Value};
//! # #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! # struct Account { owner: String, balance: i64 }
//! # #[derive(Debug, Clone, PartialEq)]
//! # enum AccountEvent { Opened { owner: String }, Deposited { amount: i64 } }
//! # impl DomainEvent for AccountEvent {
//! #     fn event_type(&self) -> &str {
//! #         match self { Self::Opened { .. } => "Opened", Self::Deposited { .. } => "Deposited" }
//! #     }
//! #     fn to_data(&self) -> Result<Value, serde_json::Error> {
//! #         Ok(match self {
//! #             Self::Opened { owner } => json!({ "owner": owner }),
//! #             Self::Deposited { amount } => json!({ "amount": amount }),
//! #         })
//! #     }
//! #     fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
//! #         let bad = |why| EventDecodeError::invalid_data(event_type, why);
//! #         match event_type {
//! #             "Opened" => Ok(Self::Opened {
//! #                 owner: data["owner"].as_str().ok_or_else(|| bad("owner"))?.to_owned(),
//! #             }),
//! #             "Deposited" => Ok(Self::Deposited {
//! #                 amount: data["amount"].as_i64().ok_or_else(|| bad("amount"))?,
//! #             }),
//! #             other => Err(EventDecodeError::unknown_type(other)),
//! #         }
//! #     }
//! # }
//! # enum AccountCommand { Deposit { amount: i64 }, Withdraw { amount: i64 } }
//! # #[derive(Debug)]
//! # enum AccountError { Insufficient { balance: i64 } }
//! # impl std::fmt::Display for AccountError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//! #         let Self::Insufficient { balance } = self;
//! #         write!(f, "insufficient funds: balance {balance}")
//! #     }
//! # }
//! # impl std::error::Error for AccountError {}
//! # impl EventSourced for Account {
//! #     const ACTOR_TYPE: &'static str = "Account";
//! #     type Command = AccountCommand;
//! #     type Event = AccountEvent;
//! #     type Reply = i64;
//! #     type Error = AccountError;
//! #     fn decide(&self, command: &AccountCommand) -> Result<Decision<AccountEvent, i64>, AccountError> {
//! #         match *command {
//! #             AccountCommand::Deposit { amount } => Ok(Decision::new(
//! #                 vec![AccountEvent::Deposited { amount }],
//! #                 self.balance + amount,
//! #             )),
//! #             AccountCommand::Withdraw { amount } if amount > self.balance => {
//! #                 Err(AccountError::Insufficient { balance: self.balance })
//! #             }
//! #             AccountCommand::Withdraw { .. } => unimplemented!("not in this example"),
//! #         }
//! #     }
//! #     fn apply(&mut self, event: &AccountEvent) {
//! #         match event {
//! #             AccountEvent::Opened { owner } => self.owner = owner.clone(),
//! #             AccountEvent::Deposited { amount } => self.balance += amount,
//! #         }
//! #     }
//! # }
//! # fn main() {
//! use aether::testkit::TestKit;
//!
//! TestKit::<Account>::given([AccountEvent::Opened { owner: "ada".into() }])
//!     .when(AccountCommand::Deposit { amount: 5 })
//!     .then_events([AccountEvent::Deposited { amount: 5 }])
//!     .then_state(|account| assert_eq!(account.balance, 5))
//!     .and_when(AccountCommand::Withdraw { amount: 50 })
//!     .then_error(|e| matches!(e, AccountError::Insufficient { .. }));
//! # }
//! ```
//!
//! With `#[aether::commands]`, the generated command enum (`AccountCommand`, one variant
//! per method, fields named after the arguments) is what `when` takes, and replies are
//! the generated reply enum: check them with
//! [`then_reply_matches`](Then::then_reply_matches)
//! (`|r| matches!(r, AccountReply::Balance(5))`). A hand-written actor whose reply is
//! `PartialEq + Debug` can use [`then_reply`](Then::then_reply).
//!
//! # Panics
//!
//! Every `given`, `when` and `then_*` panics when an expectation fails or an event does
//! not survive encoding and decoding; the message names the actor type and the command
//! number.

use std::fmt;
use std::sync::Arc;

use aether_core::{InMemoryStore, SnapshotStore};

use crate::{Decision, DomainEvent, EventSourced, Runtime};

/// A runtime with default settings on a fresh [`InMemoryStore`], for tests.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runtime = aether_runtime::testkit::in_memory_runtime();
/// # runtime.shutdown().await;
/// # });
/// ```
pub fn in_memory_runtime() -> Runtime {
    in_memory_runtime_and_store().0
}

/// [`in_memory_runtime`], and the store, to look at what was persisted.
pub fn in_memory_runtime_and_store() -> (Runtime, Arc<InMemoryStore>) {
    let store = Arc::new(InMemoryStore::new());
    (runtime_with(Arc::clone(&store)), store)
}

/// A runtime with default settings on `store` (for tests that bring their own store;
/// use [`Runtime::builder`] to change settings).
pub fn runtime_with<S: SnapshotStore + 'static>(store: Arc<S>) -> Runtime {
    Runtime::new(store)
}

/// An actor's state built from given events, ready to be sent a command with
/// [`when`](TestKit::when). No runtime, no store.
pub struct TestKit<A: EventSourced> {
    state: A,
    /// Events applied so far (given and produced): the version the actor would be at.
    version: i64,
    /// Commands run so far, for messages.
    commands: usize,
}

impl<A: EventSourced> TestKit<A> {
    /// A new actor with no history (`A::default()`).
    pub fn new() -> Self {
        TestKit {
            state: A::default(),
            version: 0,
            commands: 0,
        }
    }

    /// A new actor that has recorded `events`: each is encoded, decoded and applied, as
    /// when the actor rehydrates from the store.
    ///
    /// # Panics
    ///
    /// When an event does not encode, or does not decode back under its event type.
    #[track_caller]
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Self {
        Self::new().and_given(events)
    }

    /// An actor whose history is `stored`: events as an older build stored them, each an
    /// event type and its JSON data. They go through the actor type's
    /// [upcasters](crate::Upcasters) and decoding, as on rehydration.
    ///
    /// For example `TestKit::<Cart>::given_stored([("ItemAdded", json!({"sku": "a-1",
    /// "price": "12.50"}))])`, then `.when(..)` and `.then_..(..)` as usual;
    /// `examples/changing_events.rs` has the whole cart.
    ///
    /// # Panics
    ///
    /// When an event does not decode, with the decoder's message (a failed test).
    #[track_caller]
    pub fn given_stored<T: Into<String>>(
        stored: impl IntoIterator<Item = (T, serde_json::Value)>,
    ) -> Self {
        let upcasters = A::upcasters();
        let mut kit = Self::new();
        for (event_type, data) in stored {
            let event_type = event_type.into();
            let event = match upcasters.decode::<A::Event>(&event_type, &data) {
                Ok(event) => event,
                Err(err) => panic!("stored event {event_type:?} does not decode: {err}"),
            };
            kit.state.apply(&event);
            kit.version += 1;
        }
        kit
    }

    /// An actor whose current state is `state` (as if restored from a snapshot).
    pub fn given_state(state: A) -> Self {
        TestKit {
            state,
            version: 0,
            commands: 0,
        }
    }

    /// Applies more past events (see [`given`](TestKit::given)).
    ///
    /// # Panics
    ///
    /// As [`given`](TestKit::given).
    #[track_caller]
    pub fn and_given(mut self, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            let event = round_trip::<A>(&event, "a given event");
            self.state.apply(&event);
            self.version += 1;
        }
        self
    }

    /// The current state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// How many events have been applied: the version the actor would be at (0 for
    /// [`given_state`](TestKit::given_state) and no events).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Decides `command` against the current state and, if it is accepted, applies its
    /// events. Check the outcome with the `then_*` methods of [`Then`].
    ///
    /// # Panics
    ///
    /// When a produced event does not encode or decode back (the runtime would fail
    /// the command), or when `decide` or `apply` panics.
    #[track_caller]
    #[must_use = "check the outcome with `then_events`, `then_error`, `then_reply`, ..."]
    pub fn when(mut self, command: A::Command) -> Then<A> {
        self.commands += 1;
        let result = self.state.decide(&command);
        if let Ok(decision) = &result {
            for event in &decision.events {
                round_trip::<A>(event, &format!("an event of command #{}", self.commands));
                self.state.apply(event);
                self.version += 1;
            }
        }
        Then { kit: self, result }
    }
}

impl<A: EventSourced> Default for TestKit<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: EventSourced> fmt::Debug for TestKit<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKit")
            .field("actor_type", &A::ACTOR_TYPE)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`TestKit::when`]: the decision (or the domain's error) and the state
/// after applying the decision's events.
pub struct Then<A: EventSourced> {
    kit: TestKit<A>,
    result: Result<Decision<A::Event, A::Reply>, A::Error>,
}

impl<A: EventSourced> Then<A> {
    /// Expects the command to be accepted with exactly `expected` events, in order.
    ///
    /// # Panics
    ///
    /// When the command was rejected or its events differ.
    #[track_caller]
    pub fn then_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self
    where
        A::Event: PartialEq + fmt::Debug,
    {
        let expected: Vec<_> = expected.into_iter().collect();
        let events = self.accepted("events");
        if events.events != expected {
            panic!(
                "{}: expected events\n  {:?}\nbut got\n  {:?}",
                self.what(),
                expected,
                events.events
            );
        }
        self
    }

    /// Expects the command to be accepted with events of these types, in order (for
    /// events that are not `PartialEq`).
    ///
    /// # Panics
    ///
    /// When the command was rejected or the event types differ.
    #[track_caller]
    pub fn then_event_types(self, expected: &[&str]) -> Self {
        let types = event_types(&self.accepted("event types").events);
        if types != expected {
            panic!(
                "{}: expected event types {expected:?} but got {types:?}",
                self.what()
            );
        }
        self
    }

    /// Expects the command to be accepted without recording anything (a query, or a
    /// command that changes nothing).
    ///
    /// # Panics
    ///
    /// When the command was rejected or recorded events.
    #[track_caller]
    pub fn then_no_events(self) -> Self {
        self.then_event_types(&[])
    }

    /// Expects the command to be accepted with this reply.
    ///
    /// # Panics
    ///
    /// When the command was rejected or the reply differs.
    #[track_caller]
    pub fn then_reply(self, expected: A::Reply) -> Self
    where
        A::Reply: PartialEq + fmt::Debug,
    {
        let reply = &self.accepted("a reply").reply;
        if *reply != expected {
            panic!(
                "{}: expected the reply {expected:?} but got {reply:?}",
                self.what()
            );
        }
        self
    }

    /// Expects the command to be accepted with a reply for which `check` is true (for
    /// replies that are not `PartialEq`, like the enums `#[aether::commands]` generates).
    ///
    /// # Panics
    ///
    /// When the command was rejected or `check` returns false.
    #[track_caller]
    pub fn then_reply_matches(self, check: impl FnOnce(&A::Reply) -> bool) -> Self {
        if !check(&self.accepted("a reply").reply) {
            panic!("{}: the reply did not match", self.what());
        }
        self
    }

    /// Expects the command to be rejected with an error for which `check` is true, e.g.
    /// `|e| matches!(e, AccountError::Insufficient { .. })`.
    ///
    /// # Panics
    ///
    /// When the command was accepted or `check` returns false.
    #[track_caller]
    pub fn then_error(self, check: impl FnOnce(&A::Error) -> bool) -> Self {
        match &self.result {
            Err(error) if check(error) => {}
            Err(error) => panic!(
                "{}: the command was rejected, but with another error: {error}",
                self.what()
            ),
            Ok(decision) => panic!(
                "{}: expected the command to be rejected, but it was accepted with events {:?}",
                self.what(),
                event_types(&decision.events)
            ),
        }
        self
    }

    /// Runs `check` on the state after the command's events were applied (the state
    /// before, if it was rejected); assert inside it:
    /// `.then_state(|account| assert_eq!(account.balance, 5))`.
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(&self.kit.state);
        self
    }

    /// The events the command produced (none if it was rejected).
    pub fn events(&self) -> &[A::Event] {
        match &self.result {
            Ok(decision) => &decision.events,
            Err(_) => &[],
        }
    }

    /// The reply, if the command was accepted.
    pub fn reply(&self) -> Option<&A::Reply> {
        self.result.as_ref().ok().map(|d| &d.reply)
    }

    /// The domain's error, if the command was rejected.
    pub fn error(&self) -> Option<&A::Error> {
        self.result.as_ref().err()
    }

    /// The state after the command.
    pub fn state(&self) -> &A {
        &self.kit.state
    }

    /// The decision, or the domain's error.
    pub fn into_result(self) -> Result<Decision<A::Event, A::Reply>, A::Error> {
        self.result
    }

    /// Sends another command to the state after this one.
    ///
    /// # Panics
    ///
    /// As [`TestKit::when`].
    #[track_caller]
    #[must_use = "check the outcome with `then_events`, `then_error`, `then_reply`, ..."]
    pub fn and_when(self, command: A::Command) -> Then<A> {
        self.kit.when(command)
    }

    /// Goes back to the kit, at the state after this command.
    pub fn into_kit(self) -> TestKit<A> {
        self.kit
    }

    #[track_caller]
    fn accepted(&self, expected: &str) -> &Decision<A::Event, A::Reply> {
        match &self.result {
            Ok(decision) => decision,
            Err(error) => panic!(
                "{}: expected {expected}, but the command was rejected: {error}",
                self.what()
            ),
        }
    }

    fn what(&self) -> String {
        format!("TestKit<{}>, command #{}", A::ACTOR_TYPE, self.kit.commands)
    }
}

impl<A: EventSourced> fmt::Debug for Then<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Then");
        s.field("actor_type", &A::ACTOR_TYPE);
        match &self.result {
            Ok(decision) => s.field("events", &event_types(&decision.events)),
            Err(error) => s.field("error", &error.to_string()),
        };
        s.field("version", &self.kit.version)
            .finish_non_exhaustive()
    }
}

fn event_types<E: DomainEvent>(events: &[E]) -> Vec<&str> {
    events.iter().map(DomainEvent::event_type).collect()
}

/// Encodes and decodes `event` as the store and rehydration would; returns the decoded
/// event.
#[track_caller]
fn round_trip<A: EventSourced>(event: &A::Event, what: &str) -> A::Event {
    let event_type = event.event_type();
    let data = event.to_data().unwrap_or_else(|err| {
        panic!(
            "TestKit<{}>: {what} ({event_type:?}) cannot be encoded: {err}",
            A::ACTOR_TYPE
        )
    });
    let decoded = A::Event::from_data(event_type, &data).unwrap_or_else(|err| {
        panic!(
            "TestKit<{}>: {what} ({event_type:?}) encodes to {data} but does not decode: {err}",
            A::ACTOR_TYPE
        )
    });
    if decoded.event_type() != event_type {
        panic!(
            "TestKit<{}>: {what} ({event_type:?}) decodes as {:?}",
            A::ACTOR_TYPE,
            decoded.event_type()
        );
    }
    decoded
}
