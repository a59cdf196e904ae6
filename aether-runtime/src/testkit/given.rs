//! [`TestKit`]: an actor's state built from given events, and the command sent to it.

use std::fmt;

use super::then::Then;
use crate::{DomainEvent, EventSourced};

/// An actor's state built from given events, ready to be sent a command with
/// [`when`](TestKit::when). No runtime, no store.
pub struct TestKit<A: EventSourced> {
    pub(super) state: A,
    /// Events applied so far (given and produced): the version the actor would be at.
    pub(super) version: i64,
    /// Commands run so far, for messages.
    pub(super) commands: usize,
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

pub(super) fn event_types<E: DomainEvent>(events: &[E]) -> Vec<&str> {
    events.iter().map(DomainEvent::event_type).collect()
}

/// Encodes and decodes `event` as the store and rehydration would; returns the decoded
/// event.
#[track_caller]
pub(super) fn round_trip<A: EventSourced>(event: &A::Event, what: &str) -> A::Event {
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
