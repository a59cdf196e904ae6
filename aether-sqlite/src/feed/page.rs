//! One page of the feed read from the file: the query, the scan inside one read
//! transaction, and the rows decoded either into owned events ([`read_page`]) or lent to
//! a visitor ([`visit_page`]).

use std::ops::ControlFlow;

use aether_core::{
    Event, EventData, EventRef, FeedError, FeedEvent, FeedFilter, FeedPage, FeedVisitor, Position,
    StoreError, ACTOR_TYPE_SEPARATOR,
};
use rusqlite::types::Value;
use rusqlite::Connection;

use super::parse::{set_data, JsonParser};
use super::{max_seq, FILTER_SCAN_WINDOW};
use crate::codec::decode_event_ref;

/// The SQL of a page read and its filter parameters (after `?1` = after, `?2` = the
/// highest seq to look at, `?3` = the limit).
fn page_query(filter: &FeedFilter) -> (String, Vec<Value>) {
    // `events` drives the loop in seq order (a LEFT JOIN is never reordered by SQLite's
    // planner); each row's actor is one primary-key lookup. An event whose actor row is
    // missing still comes out, with a NULL actor id, and fails to decode instead of
    // being skipped silently.
    let mut sql = String::from(
        "SELECT e.seq, a.actor_id, e.version, e.id, e.event_type, e.command_id, e.data, \
         e.ts_secs, e.ts_nanos, e.actor_key \
         FROM events e LEFT JOIN actors a ON a.actor_key = e.actor_key \
         WHERE e.seq > ?1 AND e.seq <= ?2",
    );
    let mut params = Vec::new();
    if !filter.actor_types().is_empty() {
        // Actor ids are "{Type}|{id}": those of type T are exactly the strings in
        // ['T|', 'T}') in binary collation ('}' is the character after '|'). A type with
        // a '|' in it is the type of no id (the type ends at the first '|').
        let ranges: Vec<String> = filter
            .actor_types()
            .iter()
            .filter(|t| !t.contains(ACTOR_TYPE_SEPARATOR))
            .map(|t| {
                params.push(Value::Text(format!("{t}{ACTOR_TYPE_SEPARATOR}")));
                params.push(Value::Text(format!("{t}}}")));
                let (lo, hi) = (params.len() + 3 - 1, params.len() + 3);
                format!("(a.actor_id >= ?{lo} AND a.actor_id < ?{hi})")
            })
            .collect();
        if ranges.is_empty() {
            sql.push_str(" AND 0");
        } else {
            sql.push_str(&format!(" AND ({})", ranges.join(" OR ")));
        }
    }
    if !filter.event_types().is_empty() {
        let slots: Vec<String> = filter
            .event_types()
            .iter()
            .map(|t| {
                params.push(Value::Text(t.clone()));
                format!("?{}", params.len() + 3)
            })
            .collect();
        sql.push_str(&format!(" AND e.event_type IN ({})", slots.join(", ")));
    }
    sql.push_str(" ORDER BY e.seq LIMIT ?3");
    (sql, params)
}

/// Runs the page query after `after` in one read transaction and gives its rows, in
/// feed order, to `on_row` until it says stop. Returns the highest seq looked at (`None`
/// when the file holds nothing after `after`) and the highest seq of the file, as that
/// transaction saw it.
fn scan_page(
    conn: &Connection,
    after: Position,
    filter: &FeedFilter,
    limit: usize,
    mut on_row: impl FnMut(&rusqlite::Row<'_>) -> Result<ControlFlow<()>, FeedError>,
) -> Result<(Option<i64>, u64), FeedError> {
    let backend = |e| FeedError::backend(after, e);
    let after_seq = i64::try_from(after.commit()).unwrap_or(i64::MAX);
    let tx = conn.unchecked_transaction().map_err(backend)?;
    let max = max_seq(&tx).map_err(backend)?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    if max <= after_seq {
        return Ok((None, max as u64));
    }
    // Every seq in (after_seq, hi] present in this transaction is looked at; later
    // commits get higher seqs than `max` (see the crate docs, "Feed").
    let hi = if filter.is_all() {
        max
    } else {
        max.min(after_seq.saturating_add(FILTER_SCAN_WINDOW))
    };
    let (sql, filter_params) = page_query(filter);
    {
        let mut stmt = tx.prepare_cached(&sql).map_err(backend)?;
        let mut params: Vec<Value> = vec![
            Value::Integer(after_seq),
            Value::Integer(hi),
            Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        params.extend(filter_params);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            if on_row(row)?.is_break() {
                break;
            }
        }
    }
    tx.finish().map_err(backend)?;
    Ok((Some(hi), max as u64))
}

/// Where a page read that took `taken` events, the last at `last`, goes on from: past
/// what it looked at, unless it stopped at the limit or early (rows after the last one
/// taken were not looked at).
fn next_after(
    after: Position,
    hi: Option<i64>,
    last: Position,
    taken: usize,
    limit: usize,
) -> Position {
    match hi {
        None => after,
        Some(_) if taken == limit => last,
        Some(hi) => Position::new(hi as u64, 0),
    }
}

/// Reads one page of owned events. Also returns the highest seq of the file, as the read
/// transaction saw it.
pub(super) fn read_page(
    conn: &Connection,
    after: Position,
    filter: &FeedFilter,
    limit: usize,
) -> Result<(FeedPage, u64), FeedError> {
    let mut events = Vec::with_capacity(limit.min(4_096));
    // A row that fails to decode ends the page; the JSON of the rows before it is
    // parsed first, so that the error reported is the first in feed order.
    let mut bad_row = None;
    let mut parser = JsonParser::new(limit);
    let scanned = scan_page(conn, after, filter, limit, |row| match decode_row(row) {
        Ok((event, text)) => {
            events.push(event);
            parser.push(text);
            Ok(ControlFlow::Continue(()))
        }
        Err(err) => {
            bad_row = Some(err);
            Ok(ControlFlow::Break(()))
        }
    });
    let parsed = parser.finish();
    let (hi, max) = scanned?;
    set_data(&mut events, parsed)?;
    if let Some(err) = bad_row {
        return Err(err);
    }
    let last = events.last().map_or(after, |e| e.position);
    let next = next_after(after, hi, last, events.len(), limit);
    Ok((FeedPage { events, next }, max))
}

/// Lends one page's events to `visitor`, borrowed from the rows. Returns where to read on
/// from and the highest seq of the file, as the read transaction saw it.
pub(super) fn visit_page(
    conn: &Connection,
    after: Position,
    filter: &FeedFilter,
    limit: usize,
    visitor: &mut dyn FeedVisitor,
) -> Result<(Position, u64), FeedError> {
    let (mut last, mut taken, mut stopped) = (after, 0, false);
    let (hi, max) = scan_page(conn, after, filter, limit, |row| {
        let (position, event) = decode_row_ref(row)?;
        if visitor.visit(position, &event).is_break() {
            stopped = true;
            return Ok(ControlFlow::Break(()));
        }
        last = position;
        taken += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    let next = if stopped {
        last
    } else {
        next_after(after, hi, last, taken, limit)
    };
    Ok((next, max))
}

/// Decodes a row of [`page_query`] with every column borrowed (the JSON data as text,
/// not parsed): a serialization error names position, actor and version, never a panic.
fn decode_row_ref<'r>(row: &'r rusqlite::Row<'_>) -> Result<(Position, EventRef<'r>), FeedError> {
    // The query only returns seq > after >= 0.
    let seq: i64 = row.get(0).map_err(|e| FeedError::Serialization {
        position: Position::START,
        actor_id: String::new(),
        version: 0,
        reason: format!("column seq: {e}"),
    })?;
    let position = Position::new(seq as u64, 0);
    let actor_id = match row.get_ref(1) {
        Ok(rusqlite::types::ValueRef::Text(bytes)) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    let version: Result<i64, _> = row.get(2);
    let fail = |actor_id: &str, version: i64, reason: String| FeedError::Serialization {
        position,
        actor_id: actor_id.to_owned(),
        version,
        reason,
    };
    let Some(actor_id) = actor_id else {
        let key: Option<i64> = row.get(9).ok();
        return Err(fail(
            "",
            version.unwrap_or(0),
            format!(
                "event row {seq} belongs to actor key {key:?}, which has no actor id \
                 (no such row in `actors`, or its actor_id is not text)"
            ),
        ));
    };
    let version = version.map_err(|e| fail(actor_id, 0, format!("column version: {e}")))?;
    match decode_event_ref(row, actor_id, version) {
        Ok(event) => Ok((position, event)),
        Err(StoreError::Serialization { reason, .. }) => Err(fail(actor_id, version, reason)),
        Err(other) => Err(fail(actor_id, version, other.to_string())),
    }
}

/// Decodes a row of [`page_query`], all but its JSON data (returned as text for the
/// [`JsonParser`]).
fn decode_row<'r>(row: &'r rusqlite::Row<'_>) -> Result<(FeedEvent, &'r str), FeedError> {
    let (position, lent) = decode_row_ref(row)?;
    let data = match lent.data {
        EventData::Json(text) => text,
        EventData::Value(_) => "null",
    };
    let event = Event {
        id: lent.id.to_owned(),
        event_type: lent.event_type.to_owned(),
        actor_id: lent.actor_id.to_owned(),
        command_id: lent.command_id.map(str::to_owned),
        version: lent.version,
        data: serde_json::Value::Null,
        timestamp: lent.timestamp,
    };
    Ok((FeedEvent { position, event }, data))
}
