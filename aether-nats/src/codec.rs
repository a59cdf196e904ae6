//! The message format of a saved batch, and of a snapshot.
//!
//! One `save_events` call is one JetStream message on the actor's subject:
//!
//! - payload: the seed's JSON of the event when the batch holds one event (exactly what
//!   the Go seed writes per message), a JSON array of such events when it holds more;
//! - headers: `Aether-First-Version`, `Aether-Last-Version` and `Aether-Event-Count`, so
//!   the latest version is known without parsing the payload, plus the
//!   `Nats-Expected-Last-Subject-Sequence` the write was made with (the stream sequence
//!   of the subject's previous message, or 0: reads walk back along it).
//!
//! Reading accepts both payload shapes, and messages without the `Aether-*` headers
//! (written by another client): then the payload tells the versions.

use aether_core::{ActorSnapshot, Event, StoreError};
use async_nats::HeaderMap;
use serde::Deserialize;

pub(crate) const FIRST_VERSION: &str = "Aether-First-Version";
pub(crate) const LAST_VERSION: &str = "Aether-Last-Version";
pub(crate) const EVENT_COUNT: &str = "Aether-Event-Count";

/// The payload of a batch.
pub(crate) fn encode_batch(events: &[Event]) -> Result<Vec<u8>, StoreError> {
    let encoded = if let [single] = events {
        serde_json::to_vec(single)
    } else {
        serde_json::to_vec(events)
    };
    encoded.map_err(|err| {
        let first = &events[0];
        StoreError::serialization(&first.actor_id, first.version, err)
    })
}

/// The `Aether-*` headers of a batch.
pub(crate) fn batch_headers(events: &[Event]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(FIRST_VERSION, events[0].version.to_string());
    headers.insert(LAST_VERSION, events[events.len() - 1].version.to_string());
    headers.insert(EVENT_COUNT, events.len().to_string());
    headers
}

fn header_version(headers: Option<&HeaderMap>, name: &str) -> Option<i64> {
    headers?.get(name)?.as_str().trim().parse().ok()
}

/// First and last version of a stored batch, from its headers, or else from its payload.
pub(crate) fn batch_bounds(
    actor_id: &str,
    sequence: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<(i64, i64), StoreError> {
    if let (Some(first), Some(last)) = (
        header_version(headers, FIRST_VERSION),
        header_version(headers, LAST_VERSION),
    ) {
        return Ok((first, last));
    }
    let events = decode_batch(actor_id, sequence, headers, payload)?;
    Ok((events[0].version, events[events.len() - 1].version))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Batch {
    One(Box<Event>),
    Many(Vec<Event>),
}

/// The events of a stored batch, checked: at least one, all of `actor_id`, versions
/// strictly increasing.
pub(crate) fn decode_batch(
    actor_id: &str,
    sequence: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Vec<Event>, StoreError> {
    let version = header_version(headers, FIRST_VERSION).unwrap_or(0);
    let fail = |reason: String| {
        StoreError::serialization(
            actor_id,
            version,
            format!("message {sequence} of the events stream: {reason}"),
        )
    };
    let starts_with_bracket = payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[');
    let events = if starts_with_bracket {
        serde_json::from_slice::<Vec<Event>>(payload).map_err(|e| fail(e.to_string()))?
    } else {
        match serde_json::from_slice::<Batch>(payload) {
            Ok(Batch::One(event)) => vec![*event],
            Ok(Batch::Many(events)) => events,
            Err(_) => {
                // Parse again as one event to report the precise error.
                let err = serde_json::from_slice::<Event>(payload)
                    .err()
                    .map_or_else(|| "not an event".to_owned(), |e| e.to_string());
                return Err(fail(err));
            }
        }
    };
    if events.is_empty() {
        return Err(fail("the batch holds no event".to_owned()));
    }
    for event in &events {
        if event.actor_id != actor_id {
            return Err(fail(format!(
                "it holds an event of actor {:?} at version {}",
                event.actor_id, event.version
            )));
        }
    }
    for pair in events.windows(2) {
        if pair[1].version <= pair[0].version {
            return Err(fail(format!(
                "versions do not increase: {} follows {}",
                pair[1].version, pair[0].version
            )));
        }
    }
    Ok(events)
}

/// Just the version of a stored snapshot.
#[derive(Deserialize)]
struct VersionOnly {
    version: i64,
}

/// The version of a stored snapshot, without decoding its state.
pub(crate) fn snapshot_version(actor_id: &str, value: &[u8]) -> Result<i64, StoreError> {
    serde_json::from_slice::<VersionOnly>(value)
        .map(|v| v.version)
        .map_err(|err| StoreError::serialization(actor_id, 0, format!("stored snapshot: {err}")))
}

/// A stored snapshot, checked to be `actor_id`'s.
pub(crate) fn decode_snapshot(actor_id: &str, value: &[u8]) -> Result<ActorSnapshot, StoreError> {
    let snapshot: ActorSnapshot = serde_json::from_slice(value).map_err(|err| {
        let version = snapshot_version(actor_id, value).unwrap_or(0);
        StoreError::serialization(actor_id, version, format!("stored snapshot: {err}"))
    })?;
    if snapshot.actor_id != actor_id {
        return Err(StoreError::serialization(
            actor_id,
            snapshot.version,
            format!(
                "the stored snapshot belongs to actor {:?}",
                snapshot.actor_id
            ),
        ));
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aether_core::testkit::cases::event;

    #[test]
    fn batches_round_trip_in_both_shapes() {
        for n in [1, 3] {
            let events: Vec<Event> = (1..=n).map(|v| event("a.b", v)).collect();
            let payload = encode_batch(&events).unwrap();
            assert_eq!(payload[0] == b'[', n > 1);
            let headers = batch_headers(&events);
            assert_eq!(
                decode_batch("a.b", 1, Some(&headers), &payload).unwrap(),
                events
            );
            assert_eq!(batch_bounds("a.b", 1, None, &payload).unwrap(), (1, n));
        }
    }

    #[test]
    fn garbage_is_a_serialization_error_naming_actor_and_version() {
        let mut headers = HeaderMap::new();
        headers.insert(FIRST_VERSION, "7");
        for payload in [&b"not json"[..], b"[]", b"{\"id\":1}", b"null"] {
            match decode_batch("acc", 42, Some(&headers), payload) {
                Err(StoreError::Serialization {
                    actor_id, version, ..
                }) => {
                    assert_eq!((actor_id.as_str(), version), ("acc", 7));
                }
                other => panic!("{payload:?}: {other:?}"),
            }
        }
        let foreign = encode_batch(&[event("other", 1)]).unwrap();
        assert!(matches!(
            decode_batch("acc", 1, None, &foreign),
            Err(StoreError::Serialization { .. })
        ));
    }
}
