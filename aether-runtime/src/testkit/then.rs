//! [`Then`]: the outcome of a command in the test kit, and the checks on it.

use std::fmt;

use super::given::{event_types, TestKit};
use crate::{Decision, EventSourced};

/// The outcome of [`TestKit::when`]: the decision (or the domain's error) and the state
/// after applying the decision's events.
pub struct Then<A: EventSourced> {
    pub(super) kit: TestKit<A>,
    pub(super) result: Result<Decision<A::Event, A::Reply>, A::Error>,
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
