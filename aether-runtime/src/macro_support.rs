//! Items the `aether-macros` expansions name through `::aether::__private`: not an API.
//! They live here, not in the facade, so that the facade only re-exports.

#![allow(missing_docs)]

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
    type Event: crate::DomainEvent;
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

/// What `#[aether::commands]` writes for an actor; `#[derive(Actor)]` builds
/// `EventSourced` from it, so that rustc checks the actor's bounds (`Default`,
/// serializable state) at the struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[aether::commands]` impl block",
    label = "this actor has no commands",
    note = "add `#[aether::commands] impl {Self} {{ ... }}` with its commands and `fn apply(&mut self, event: &Event)`"
)]
pub trait Commands {
    /// `EventSourced::Command`.
    type Command: Send + 'static;
    /// `EventSourced::Event` (its `DomainEvent` bound is checked there, once).
    type Event;
    /// `EventSourced::Reply`.
    type Reply: Clone + Send + 'static;
    /// `EventSourced::Error`.
    type Error: std::error::Error + Send + Sync + 'static;
    /// `EventSourced::decide`.
    fn decide(
        &self,
        command: &Self::Command,
    ) -> Result<crate::Decision<Self::Event, Self::Reply>, Self::Error>;
    /// `EventSourced::apply`.
    fn apply(&mut self, event: &Self::Event);
}
