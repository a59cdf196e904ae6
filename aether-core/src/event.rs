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
