//! The read side of [`SqliteStore`]: the [`EventFeed`] over `events.seq`, and the
//! [`CheckpointStore`] of projections in the `projection_checkpoints` table.
//!
//! Not to be confused with `checkpoint.rs`, which is about *WAL* checkpoints (copying
//! the write-ahead log back into the main file).
//!
//! A feed position is `Position::new(seq, 0)`, `seq` being the event's `INTEGER PRIMARY
//! KEY`. Why that is a total order that readers can never skip is in the crate docs
//! ("Feed"). Reads run on the store's read connections, each page inside one read
//! transaction; waiting readers are woken by the writer thread through a
//! [`FeedSignal`] after each committed group, or by the poll interval for commits of
//! other processes.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    submit_write, validate_feed_read, validate_projection_name, CheckpointStore, Event, EventData,
    EventFeed, EventRef, FeedError, FeedEvent, FeedFilter, FeedPage, FeedVisitor, Position,
    StoreError, VisitedPage, ACTOR_TYPE_SEPARATOR,
};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::Connection;
use tokio::sync::watch;

mod parse;

use crate::codec::decode_event_ref;
use crate::writer::Request;
use crate::SqliteStore;
use parse::{set_data, JsonParser};

/// The default of [`SqliteStoreBuilder::feed_poll_interval`](crate::SqliteStoreBuilder::feed_poll_interval).
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The shortest poll interval the builder accepts (shorter would make idle readers spin).
pub(crate) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// A filtered read looks at no more than this many `seq` values past `after` per page,
/// so that a filter that matches little does not make one read scan the whole table.
/// The page's `next` then moves past what was looked at.
pub(crate) const FILTER_SCAN_WINDOW: i64 = 10_000;

/// The highest `events.seq` known to be committed, shared by the writer thread (which
/// raises it after each commit), the feed's reads (which raise it to what they see,
/// including other processes' commits) and waiting readers (which watch it).
#[derive(Debug, Clone)]
pub(crate) struct FeedSignal(Arc<watch::Sender<u64>>);

impl FeedSignal {
    /// A signal starting at `latest`, the highest seq of the file when it was opened.
    pub(crate) fn new(latest: u64) -> Self {
        FeedSignal(Arc::new(watch::Sender::new(latest)))
    }

    /// Called by the writer after a commit whose last event has `seq`.
    pub(crate) fn committed(&self, seq: i64) {
        self.raise(u64::try_from(seq).unwrap_or(0));
    }

    /// Raises the known latest seq to `seq` if it is higher; wakes waiters then.
    fn raise(&self, seq: u64) {
        self.0.send_if_modified(|latest| {
            if seq > *latest {
                *latest = seq;
                true
            } else {
                false
            }
        });
    }

    /// Waits until an event after `after` is known committed, or for `poll` at most.
    async fn wait(&self, after: u64, poll: Duration) {
        let mut latest = self.0.subscribe();
        if *latest.borrow_and_update() > after {
            return;
        }
        // The sender lives in this signal, which the caller borrows: `wait_for` can only
        // end by the condition or by the timeout.
        let _ = tokio::time::timeout(poll, latest.wait_for(|&seq| seq > after)).await;
    }
}

/// The highest seq of the file (0 for an empty feed).
pub(crate) fn max_seq(conn: &Connection) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(seq) FROM events")?
        .query_row([], |row| row.get(0))?;
    Ok(max.and_then(|m| u64::try_from(m).ok()).unwrap_or(0))
}

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
fn read_page(
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
fn visit_page(
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

impl SqliteStore {
    /// Runs `f` on a read connection, with feed errors.
    async fn feed_read<T, F>(&self, after: Position, f: F) -> Result<T, FeedError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, FeedError> + Send + 'static,
    {
        self.reads
            .run(f, |source| FeedError::Backend { after, source })
            .await
    }

    /// The highest seq of the file, raising the known latest with it.
    async fn head_seq(&self, after: Position) -> Result<u64, FeedError> {
        let max = self
            .feed_read(after, move |conn| {
                max_seq(conn).map_err(|e| FeedError::backend(after, e))
            })
            .await?;
        self.feed.raise(max);
        Ok(max)
    }

    /// Saves (`Some`) or deletes (`None`) a checkpoint through the writer thread.
    async fn write_checkpoint(
        &self,
        projection: &str,
        position: Option<Position>,
    ) -> Result<(), FeedError> {
        validate_projection_name(projection)?;
        let request = |reply| Request::Checkpoint {
            projection: projection.to_owned(),
            position,
            reply,
        };
        submit_write(&self.requests, request, || {
            Self::writer_stopped(projection, 0)
        })
        .await
        .map_err(|e| FeedError::Checkpoint {
            projection: projection.to_owned(),
            source: Arc::new(e),
        })
    }
}

#[async_trait]
impl EventFeed for SqliteStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        validate_feed_read(limit)?;
        let filter = filter.clone();
        let (page, max) = self
            .feed_read(after, move |conn| read_page(conn, after, &filter, limit))
            .await?;
        // Commits of other processes, seen here first, wake this process's waiters.
        self.feed.raise(max);
        Ok(page)
    }

    /// Lends each row, borrowed on the read connection's blocking thread: no owned
    /// event, the payload as the stored JSON text.
    async fn visit_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        mut visitor: Box<dyn FeedVisitor>,
    ) -> Result<VisitedPage, FeedError> {
        validate_feed_read(limit)?;
        let filter = filter.clone();
        let (page, max) = self
            .feed_read(after, move |conn| {
                let (next, max) = visit_page(conn, after, &filter, limit, &mut *visitor)?;
                Ok((VisitedPage { visitor, next }, max))
            })
            .await?;
        self.feed.raise(max);
        Ok(page)
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let max = self.head_seq(Position::START).await?;
        Ok(Position::new(max, 0))
    }

    /// Exact: seqs are dense (each is the previous highest + 1, and events are never
    /// deleted), so the events after `after` are `max(seq) - after.commit()`.
    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let max = self.head_seq(after).await?;
        Ok(max.saturating_sub(after.commit()))
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        self.feed
            .wait(after.commit(), self.feed_poll_interval)
            .await;
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        validate_projection_name(projection)?;
        let name = projection.to_owned();
        self.reads
            .run(
                move |conn| crate::projection::load_checkpoint(conn, &name),
                |source| FeedError::Checkpoint {
                    projection: projection.to_owned(),
                    source,
                },
            )
            .await
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        self.write_checkpoint(projection, Some(position)).await
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        self.write_checkpoint(projection, None).await
    }
}
