//! Which events a reader wants ([`FeedFilter`]), and the actor type of a stored actor id
//! ([`actor_type_of`]).

use serde::{Deserialize, Serialize};

use crate::Event;

/// The separator between an actor's type and its id in stored actor ids, as the aether
/// runtime writes them: `"{ACTOR_TYPE}|{id}"`.
pub const ACTOR_TYPE_SEPARATOR: char = '|';

/// The actor type of a stored actor id written as `"{ACTOR_TYPE}|{id}"`, or `None` for an
/// id without the separator.
///
/// ```
/// assert_eq!(aether_core::actor_type_of("Account|42"), Some("Account"));
/// assert_eq!(aether_core::actor_type_of("legacy-id"), None);
/// ```
pub fn actor_type_of(actor_id: &str) -> Option<&str> {
    actor_id
        .split_once(ACTOR_TYPE_SEPARATOR)
        .map(|(actor_type, _)| actor_type)
}

/// Which events of the feed a reader wants: by actor type, by event type, or all.
///
/// Empty lists mean "any". An event matches when its actor type (the part of its actor
/// id before `|`, see [`actor_type_of`]) is one of the actor types, if any are given,
/// and its event type is one of the event types, if any are given.
///
/// ```
/// use aether_core::FeedFilter;
/// use aether_core::testkit::cases::event;
///
/// let deposits = FeedFilter::all().actor_type("Account").event_type("Noted");
/// assert!(deposits.matches(&event("Account|1", 1)));
/// assert!(!deposits.matches(&event("Order|1", 1)));
/// assert!(FeedFilter::all().matches(&event("no-type", 1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeedFilter {
    actor_types: Vec<String>,
    event_types: Vec<String>,
}

impl FeedFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Adds an actor type (as in `EventSourced::ACTOR_TYPE`) to those wanted.
    pub fn actor_type(mut self, actor_type: impl Into<String>) -> Self {
        self.actor_types.push(actor_type.into());
        self
    }

    /// Adds an event type (as in `DomainEvent::event_type`) to those wanted.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// The actor types wanted; empty for any.
    pub fn actor_types(&self) -> &[String] {
        &self.actor_types
    }

    /// The event types wanted; empty for any.
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Whether the filter lets every event through.
    pub fn is_all(&self) -> bool {
        self.actor_types.is_empty() && self.event_types.is_empty()
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_parts(&event.actor_id, &event.event_type)
    }

    /// [`matches`](FeedFilter::matches) for an event known by its actor id and type.
    pub fn matches_parts(&self, actor_id: &str, event_type: &str) -> bool {
        let actor_ok = self.actor_types.is_empty()
            || actor_type_of(actor_id)
                .is_some_and(|t| self.actor_types.iter().any(|wanted| wanted == t));
        let event_ok =
            self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type);
        actor_ok && event_ok
    }
}
