//! Between aether's records and PostgreSQL's columns.
//!
//! Timestamps: `timestamptz` keeps microseconds, the contract keeps nanoseconds. A record's
//! timestamp is stored as `recorded_at` (the instant truncated to the microsecond, for
//! reading in SQL) plus `recorded_nanos` (the whole sub-second part in nanoseconds); read
//! back, `recorded_nanos` replaces the sub-second part of `recorded_at`.
//!
//! Text: PostgreSQL text cannot hold a NUL byte, and `jsonb` cannot hold `\u0000` in a
//! string. Both are refused before anything is sent, with an error naming actor and
//! version.

use aether_core::{ActorSnapshot, Event, StoreError, Timestamp};
use chrono::{Datelike, Timelike};
use serde_json::Value;
use tokio_postgres::Row;

use crate::error::PostgresError;

/// The earliest year `timestamptz` holds (4713 BC, in astronomical year numbering).
const MIN_YEAR: i32 = -4712;

/// A timestamp split into the two stored columns.
pub(crate) fn split_timestamp(
    actor_id: &str,
    version: i64,
    timestamp: &Timestamp,
) -> Result<(Timestamp, i32), StoreError> {
    if timestamp.year() < MIN_YEAR {
        return Err(StoreError::invalid_input(
            actor_id,
            version,
            format!("timestamp {timestamp} is before 4713 BC, the earliest PostgreSQL stores"),
        ));
    }
    let nanos = timestamp.nanosecond();
    // `nanosecond()` is below 2e9 (a leap second reads 1e9 and up), so it fits an i32, and
    // truncating it to whole microseconds keeps `with_nanosecond` valid.
    let micros = timestamp
        .with_nanosecond(nanos / 1_000 * 1_000)
        .unwrap_or(*timestamp);
    Ok((micros, nanos as i32))
}

/// Joins the two stored timestamp columns.
pub(crate) fn join_timestamp(
    actor_id: &str,
    version: i64,
    recorded_at: Timestamp,
    nanos: i32,
) -> Result<Timestamp, StoreError> {
    u32::try_from(nanos)
        .ok()
        .and_then(|nanos| recorded_at.with_nanosecond(nanos))
        .ok_or_else(|| {
            StoreError::serialization(
                actor_id,
                version,
                format!("stored recorded_nanos {nanos} is not a valid sub-second part"),
            )
        })
}

/// Refuses text PostgreSQL cannot store.
pub(crate) fn check_text(
    actor_id: &str,
    version: i64,
    field: &str,
    text: &str,
) -> Result<(), StoreError> {
    if text.contains('\0') {
        Err(StoreError::invalid_input(
            actor_id,
            version,
            format!("the {field} contains a NUL byte, which PostgreSQL text cannot store"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses JSON that `jsonb` cannot store (a NUL in a string or an object key).
pub(crate) fn check_json(
    actor_id: &str,
    version: i64,
    field: &str,
    value: &Value,
) -> Result<(), StoreError> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    if has_nul(value) {
        Err(StoreError::invalid_input(
            actor_id,
            version,
            format!("the {field} holds a string with a NUL character (\\u0000), which jsonb cannot store"),
        ))
    } else {
        Ok(())
    }
}

/// One event, checked and ready to be sent.
#[derive(Debug)]
pub(crate) struct EncodedEvent {
    pub(crate) version: i64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) command_id: Option<String>,
    pub(crate) data: Value,
    pub(crate) recorded_at: Timestamp,
    pub(crate) recorded_nanos: i32,
}

/// Checks one event and copies it into its column values.
pub(crate) fn encode_event(event: &Event) -> Result<EncodedEvent, StoreError> {
    let (actor_id, version) = (event.actor_id.as_str(), event.version);
    check_text(actor_id, version, "actor id", actor_id)?;
    check_text(actor_id, version, "event id", &event.id)?;
    check_text(actor_id, version, "event type", &event.event_type)?;
    if let Some(command_id) = &event.command_id {
        check_text(actor_id, version, "command id", command_id)?;
    }
    check_json(actor_id, version, "event data", &event.data)?;
    let (recorded_at, recorded_nanos) = split_timestamp(actor_id, version, &event.timestamp)?;
    Ok(EncodedEvent {
        version,
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        command_id: event.command_id.clone(),
        data: event.data.clone(),
        recorded_at,
        recorded_nanos,
    })
}

/// The columns every stored row (event or snapshot) has: its version and its two
/// timestamp columns.
struct RowHead {
    version: i64,
    recorded_at: Timestamp,
    nanos: i32,
}

impl RowHead {
    fn read(actor_id: &str, row: &Row) -> Result<Self, StoreError> {
        let version: i64 = row
            .try_get("version")
            .map_err(|err| undecodable(actor_id, 0, err))?;
        let bad = |err| undecodable(actor_id, version, err);
        Ok(RowHead {
            version,
            recorded_at: row.try_get("recorded_at").map_err(bad)?,
            nanos: row.try_get("recorded_nanos").map_err(bad)?,
        })
    }
}

/// A column that cannot be read as its type: an error naming actor and version.
fn undecodable(actor_id: &str, version: i64, err: tokio_postgres::Error) -> StoreError {
    StoreError::serialization(actor_id, version, PostgresError::from(err))
}

/// Reads one row of the `events` statement.
pub(crate) fn decode_event(actor_id: &str, row: &Row) -> Result<Event, StoreError> {
    let head = RowHead::read(actor_id, row)?;
    let version = head.version;
    let bad = |err| undecodable(actor_id, version, err);
    Ok(Event {
        id: row.try_get("event_id").map_err(bad)?,
        event_type: row.try_get("event_type").map_err(bad)?,
        actor_id: actor_id.to_owned(),
        command_id: row.try_get("command_id").map_err(bad)?,
        version,
        data: row.try_get("data").map_err(bad)?,
        timestamp: join_timestamp(actor_id, version, head.recorded_at, head.nanos)?,
    })
}

/// Reads one row of the `snapshot` statement.
pub(crate) fn decode_snapshot(actor_id: &str, row: &Row) -> Result<ActorSnapshot, StoreError> {
    let head = RowHead::read(actor_id, row)?;
    let version = head.version;
    let bad = |err| undecodable(actor_id, version, err);
    Ok(ActorSnapshot {
        actor_id: actor_id.to_owned(),
        version,
        state: row.try_get("state").map_err(bad)?,
        timestamp: join_timestamp(actor_id, version, head.recorded_at, head.nanos)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn timestamps_split_and_join_without_loss() {
        for (secs, nanos) in [
            (1_795_000_000, 123_456_789),
            (0, 0),
            (-1, 999_999_999),
            (-62_000_000_000, 1),
            (951_782_400, 1_000),
        ] {
            let ts = Utc.timestamp_opt(secs, nanos).unwrap();
            let (micros, stored) = split_timestamp("a", 1, &ts).unwrap();
            assert_eq!(micros.nanosecond() % 1_000, 0);
            assert_eq!(micros.timestamp(), ts.timestamp());
            assert_eq!(join_timestamp("a", 1, micros, stored).unwrap(), ts);
        }
    }

    #[test]
    fn bad_stored_nanos_is_a_serialization_error() {
        let ts = Utc.timestamp_opt(0, 0).unwrap();
        for nanos in [-1, 2_000_000_000] {
            let err = join_timestamp("a", 7, ts, nanos).unwrap_err();
            assert!(matches!(err, StoreError::Serialization { version: 7, .. }));
        }
    }

    #[test]
    fn nul_is_refused_in_text_and_json() {
        assert!(check_text("a", 1, "actor id", "a\0b").is_err());
        assert!(check_text("a", 1, "actor id", "a\\0b").is_ok());
        let nested = serde_json::json!({ "x": [1, { "k\u{0}": 2 }] });
        assert!(check_json("a", 1, "data", &nested).is_err());
        let fine = serde_json::json!({ "x": ["\\u0000"] });
        assert!(check_json("a", 1, "data", &fine).is_ok());
    }
}
