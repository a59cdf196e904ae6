//! The two records aether stores: [`Event`] and [`ActorSnapshot`].
//!
//! Both keep the seed's JSON wire format exactly (`eventType`, `actorId`, `commandId`, ...),
//! so a Go service built on the seed and a Rust service built on aether read each other's
//! events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The point in time an [`Event`] or [`ActorSnapshot`] was recorded, in UTC.
///
/// Serialized as RFC 3339 with up to nanosecond precision. Any RFC 3339 offset is accepted
/// when reading (the instant is kept, the offset is normalised to UTC).
pub type Timestamp = DateTime<Utc>;

/// One persisted domain event of one actor.
///
/// `version` numbers an actor's events: strictly increasing, not necessarily gapless (the
/// seed allows gaps). `data` is the event's payload, normally a JSON object; `null` is
/// accepted and kept as is.
///
/// # Examples
///
/// ```
/// use aether_core::Event;
///
/// let json = r#"{"id":"evt-1","eventType":"Deposited","actorId":"account-1",
///                "version":1,"data":{"amount":100},"timestamp":"2026-11-26T15:04:05Z"}"#;
/// let event: Event = serde_json::from_str(json).unwrap();
/// assert_eq!(event.event_type, "Deposited");
/// assert_eq!(event.command_id, None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique id of this event (aether writes UUID v7 strings).
    pub id: String,
    /// The domain name of the event, such as `"Deposited"`.
    pub event_type: String,
    /// The actor whose history this event belongs to.
    pub actor_id: String,
    /// Correlation id of the command that produced the event; omitted from JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// Position of the event in the actor's history; strictly increasing per actor.
    pub version: i64,
    /// The event's payload.
    pub data: serde_json::Value,
    /// When the event was recorded.
    pub timestamp: Timestamp,
}

/// A point-in-time copy of an actor's state, taken at `version`.
///
/// On start an actor loads its latest snapshot, then only the events after `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorSnapshot {
    /// The actor the state belongs to.
    pub actor_id: String,
    /// The version of the last event folded into `state`.
    pub version: i64,
    /// The serialized state.
    pub state: serde_json::Value,
    /// When the snapshot was taken.
    pub timestamp: Timestamp,
}

/// A stored event lent by [`EventStore::replay_events`](crate::EventStore::replay_events):
/// the fields of an [`Event`] borrowed from the store, its payload either a parsed
/// [`serde_json::Value`] or the JSON text as stored.
///
/// Replay decodes each event once into the actor's own event type; lending the stored
/// record spares the copy (and, for a store that keeps JSON text, the parse into a
/// `Value`) that [`get_events`](crate::EventStore::get_events) pays per event.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    /// Unique id of the event.
    pub id: &'a str,
    /// The domain name of the event.
    pub event_type: &'a str,
    /// The actor whose history this event belongs to.
    pub actor_id: &'a str,
    /// Correlation id of the command that produced the event.
    pub command_id: Option<&'a str>,
    /// Position of the event in the actor's history.
    pub version: i64,
    /// The event's payload.
    pub data: EventData<'a>,
    /// When the event was recorded.
    pub timestamp: Timestamp,
}

/// The payload of an [`EventRef`]: parsed, or JSON text as the store holds it.
#[derive(Debug, Clone, Copy)]
pub enum EventData<'a> {
    /// A parsed payload.
    Value(&'a serde_json::Value),
    /// The payload's JSON text (one JSON value).
    Json(&'a str),
}

impl<'a> EventData<'a> {
    /// The payload decoded into `T`, straight from the JSON text when the store lends
    /// text (no [`serde_json::Value`] is built). `T` may borrow strings of the text.
    ///
    /// # Errors
    ///
    /// When the payload does not have the shape of `T`.
    ///
    /// ```
    /// use aether_core::EventData;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Deposited { amount: u64 }
    ///
    /// let text = EventData::Json(r#"{"amount":5}"#);
    /// let value = serde_json::json!({"amount": 7});
    /// assert_eq!(text.decode::<Deposited>().unwrap().amount, 5);
    /// assert_eq!(EventData::Value(&value).decode::<Deposited>().unwrap().amount, 7);
    /// ```
    pub fn decode<T: serde::Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        match *self {
            EventData::Value(value) => T::deserialize(value),
            EventData::Json(text) => serde_json::from_str(text),
        }
    }

    /// The payload as a [`serde_json::Value`] (parsed when it is JSON text).
    ///
    /// # Errors
    ///
    /// When JSON text does not parse (a store that checks its input never lends such).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            EventData::Value(value) => Ok((*value).clone()),
            EventData::Json(text) => serde_json::from_str(text),
        }
    }
}

impl<'a> From<&'a Event> for EventRef<'a> {
    fn from(event: &'a Event) -> Self {
        EventRef {
            id: &event.id,
            event_type: &event.event_type,
            actor_id: &event.actor_id,
            command_id: event.command_id.as_deref(),
            version: event.version,
            data: EventData::Value(&event.data),
            timestamp: event.timestamp,
        }
    }
}

impl EventRef<'_> {
    /// An owned copy of the event.
    ///
    /// # Errors
    ///
    /// When the payload is JSON text that does not parse.
    pub fn to_event(&self) -> Result<Event, serde_json::Error> {
        Ok(Event {
            id: self.id.to_owned(),
            event_type: self.event_type.to_owned(),
            actor_id: self.actor_id.to_owned(),
            command_id: self.command_id.map(str::to_owned),
            version: self.version,
            data: self.data.to_value()?,
            timestamp: self.timestamp,
        })
    }
}
