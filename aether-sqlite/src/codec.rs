//! Turning events and snapshots into column values and back.
//!
//! Encoding happens on the caller's task (JSON serialization is spread over the runtime's
//! workers, not done on the one writer thread); decoding happens on a read connection's
//! blocking thread. A row that cannot be decoded becomes
//! [`StoreError::Serialization`] naming its actor and version, never a panic.

use aether_core::{ActorSnapshot, Event, EventData, EventRef, StoreError, Timestamp};
use chrono::DateTime;
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::Row;

/// One event, ready to insert.
#[derive(Debug)]
pub(crate) struct EncodedEvent {
    pub(crate) version: i64,
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) command_id: Option<String>,
    pub(crate) data: String,
    pub(crate) ts_secs: i64,
    pub(crate) ts_nanos: i64,
}

/// One snapshot, ready to insert.
#[derive(Debug)]
pub(crate) struct EncodedSnapshot {
    pub(crate) actor_id: String,
    pub(crate) version: i64,
    pub(crate) state: String,
    pub(crate) ts_secs: i64,
    pub(crate) ts_nanos: i64,
}

fn split_timestamp(ts: &Timestamp) -> (i64, i64) {
    (ts.timestamp(), i64::from(ts.timestamp_subsec_nanos()))
}

pub(crate) fn encode_event(event: &Event) -> Result<EncodedEvent, StoreError> {
    let data = serde_json::to_string(&event.data)
        .map_err(|e| StoreError::serialization(&event.actor_id, event.version, e))?;
    let (ts_secs, ts_nanos) = split_timestamp(&event.timestamp);
    Ok(EncodedEvent {
        version: event.version,
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        command_id: event.command_id.clone(),
        data,
        ts_secs,
        ts_nanos,
    })
}

pub(crate) fn encode_snapshot(snapshot: &ActorSnapshot) -> Result<EncodedSnapshot, StoreError> {
    let state = serde_json::to_string(&snapshot.state)
        .map_err(|e| StoreError::serialization(&snapshot.actor_id, snapshot.version, e))?;
    let (ts_secs, ts_nanos) = split_timestamp(&snapshot.timestamp);
    Ok(EncodedSnapshot {
        actor_id: snapshot.actor_id.clone(),
        version: snapshot.version,
        state,
        ts_secs,
        ts_nanos,
    })
}

/// Reads column `idx` as `T`, or a serialization error naming the column.
fn column<T: FromSql>(row: &Row<'_>, idx: usize, name: &str) -> Result<T, String> {
    row.get::<_, T>(idx)
        .map_err(|e| format!("column {name}: {e}"))
}

fn json_column(row: &Row<'_>, idx: usize, name: &str) -> Result<serde_json::Value, String> {
    match row
        .get_ref(idx)
        .map_err(|e| format!("column {name}: {e}"))?
    {
        ValueRef::Text(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| format!("column {name} holds invalid JSON: {e}")),
        other => Err(format!(
            "column {name} holds {:?}, not JSON text",
            other.data_type()
        )),
    }
}

fn timestamp_columns(row: &Row<'_>, secs: usize, nanos: usize) -> Result<Timestamp, String> {
    let s: i64 = column(row, secs, "ts_secs")?;
    let n: i64 = column(row, nanos, "ts_nanos")?;
    u32::try_from(n)
        .ok()
        .and_then(|n| DateTime::from_timestamp(s, n))
        .ok_or_else(|| format!("timestamp ({s} s, {n} ns) is out of range"))
}

/// The columns an event read selects, in the order [`decode_event`] expects.
pub(crate) const EVENT_COLUMNS: &str =
    "version, prev_seq, actor_key, id, event_type, command_id, data, ts_secs, ts_nanos";

/// Decodes the columns of [`EVENT_COLUMNS`] after `version`, `prev_seq` and `actor_key`
/// (which the caller has read already): [`decode_event_ref`], then owned, the payload
/// parsed.
pub(crate) fn decode_event(
    row: &Row<'_>,
    actor_id: &str,
    version: i64,
) -> Result<Event, StoreError> {
    decode_event_ref(row, actor_id, version)?
        .to_event()
        .map_err(|e| {
            StoreError::serialization(
                actor_id,
                version,
                format!("column data holds invalid JSON: {e}"),
            )
        })
}

/// Column `idx` as text borrowed from the row (`None` for NULL when `nullable`).
fn text_column<'r>(
    row: &'r Row<'_>,
    idx: usize,
    name: &str,
    nullable: bool,
) -> Result<Option<&'r str>, String> {
    match row
        .get_ref(idx)
        .map_err(|e| format!("column {name}: {e}"))?
    {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| format!("column {name} is not UTF-8: {e}")),
        ValueRef::Null if nullable => Ok(None),
        other => Err(format!(
            "column {name} holds {:?}, not text",
            other.data_type()
        )),
    }
}

/// [`decode_event`] borrowing from the row: the columns as `&str`, the payload as its
/// JSON text (not parsed, so not checked to be JSON here).
pub(crate) fn decode_event_ref<'r>(
    row: &'r Row<'_>,
    actor_id: &'r str,
    version: i64,
) -> Result<EventRef<'r>, StoreError> {
    let decode = || -> Result<EventRef<'r>, String> {
        let required =
            |idx, name| text_column(row, idx, name, false).map(|text| text.unwrap_or_default());
        Ok(EventRef {
            id: required(3, "id")?,
            event_type: required(4, "event_type")?,
            actor_id,
            command_id: text_column(row, 5, "command_id", true)?,
            version,
            data: EventData::Json(required(6, "data")?),
            timestamp: timestamp_columns(row, 7, 8)?,
        })
    };
    decode().map_err(|reason| StoreError::serialization(actor_id, version, reason))
}

/// Decodes `version, state, ts_secs, ts_nanos` of a snapshot row.
pub(crate) fn decode_snapshot(row: &Row<'_>, actor_id: &str) -> Result<ActorSnapshot, StoreError> {
    let version: i64 = column(row, 0, "version")
        .map_err(|reason| StoreError::serialization(actor_id, 0, reason))?;
    let decode = || -> Result<ActorSnapshot, String> {
        Ok(ActorSnapshot {
            actor_id: actor_id.to_owned(),
            version,
            state: json_column(row, 1, "state")?,
            timestamp: timestamp_columns(row, 2, 3)?,
        })
    };
    decode().map_err(|reason| StoreError::serialization(actor_id, version, reason))
}

pub(crate) fn read_column<T: FromSql>(
    row: &Row<'_>,
    idx: usize,
    name: &str,
    actor_id: &str,
    version: i64,
) -> Result<T, StoreError> {
    column(row, idx, name).map_err(|reason| StoreError::serialization(actor_id, version, reason))
}
