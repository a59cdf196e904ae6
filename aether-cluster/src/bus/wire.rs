//! The bus's subjects and messages.
//!
//! - `aether.<ns>.bus.<actor type>`: one message per run of one actor's events, a
//!   [`Batch`] (the actor type is escaped as the store escapes actor ids, see
//!   [`aether_nats::subject`]). Outside the store's stream (`aether.<ns>.events.*`): core
//!   NATS, nothing is kept.
//! - `aether.<ns>.bus-interest`: [`ANNOUNCE`] (a member has subscribers: forward for a
//!   while; with a reply subject, answered with the member's node id once it forwards) and
//!   [`QUERY`] (a joining member asks whether anyone has subscribers).

use aether_core::Event;
use serde::{Deserialize, Serialize};

/// "Forward your events": sent by a member with subscribers every heartbeat interval.
pub(crate) const ANNOUNCE: &[u8] = b"announce";
/// "Does anyone have subscribers?": sent by a member as it joins.
pub(crate) const QUERY: &[u8] = b"query";

/// The subject of `actor_type`'s events in `namespace`.
pub(crate) fn events_subject(namespace: &str, actor_type: &str) -> String {
    // `_` alone is no escaped id, so an unencodable name cannot collide with a type.
    let token = aether_nats::subject::encode_actor_id(actor_type).unwrap_or_else(|| "_".into());
    format!("aether.{namespace}.bus.{token}")
}

/// Every event subject of `namespace`.
pub(crate) fn all_events_subject(namespace: &str) -> String {
    format!("aether.{namespace}.bus.>")
}

/// The subject of announcements and queries in `namespace`.
pub(crate) fn interest_subject(namespace: &str) -> String {
    format!("aether.{namespace}.bus-interest")
}

/// A run of one actor's events, as a member forwards them.
///
/// Each forwarding member numbers the events it forwards (and those it lost) from 0 under
/// a fresh `source` id: a receiver that sees `from` beyond the number it expects from that
/// source knows how many it missed.
#[derive(Debug, Serialize)]
pub(crate) struct BatchRef<'a> {
    pub(crate) source: &'a str,
    pub(crate) from: u64,
    #[serde(rename = "type")]
    pub(crate) actor_type: &'a str,
    pub(crate) id: &'a str,
    pub(crate) events: Vec<&'a Event>,
}

/// A [`BatchRef`] as received.
#[derive(Debug, Deserialize)]
pub(crate) struct Batch {
    pub(crate) source: String,
    pub(crate) from: u64,
    #[serde(rename = "type")]
    pub(crate) actor_type: String,
    pub(crate) id: String,
    pub(crate) events: Vec<Event>,
}
