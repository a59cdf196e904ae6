//! The read side of [`PostgresStore`]: [`EventFeed`] and [`CheckpointStore`]; the
//! listener that turns `NOTIFY`s of the feed's channel into wake-ups is in `listener`.
//!
//! See the crate docs' "Feed" section for the ordering scheme and why it never skips.

use std::time::Duration;

use aether_core::{
    async_trait, validate_feed_read, validate_projection_name, CheckpointStore, EventFeed,
    FeedError, FeedEvent, FeedFilter, FeedPage, Position,
};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::codec::decode_event;
use crate::error::{PostgresError, TimedOut};
use crate::query::query_cached;
use crate::store::PostgresStore;

mod listener;
mod notifier;

pub(crate) use listener::FeedState;
pub(crate) use notifier::Notifier;

/// The longest a read waiting for the horizon goes without looking at it again (it also
/// looks on every commit signalled to the store).
const HORIZON_RECHECK: Duration = Duration::from_millis(5);

/// A row of the feed that is not what the statement returns.
#[derive(Debug, thiserror::Error)]
#[error("unreadable feed row: {0}")]
struct BadRow(String);

/// The two parameters of a position: the transaction id as text (`$1::text::xid8`, any
/// `u64`) and the sequence number (rows have at most `i64::MAX`, so a larger index
/// compares like `i64::MAX`).
fn position_params(position: Position) -> (String, i64) {
    (
        position.commit().to_string(),
        i64::try_from(position.index()).unwrap_or(i64::MAX),
    )
}

/// The position of a row from its transaction id (text) and sequence number.
fn position_of(tx: &str, seq: i64) -> Result<Position, String> {
    let commit: u64 = tx
        .parse()
        .map_err(|_| format!("transaction id {tx:?} is not an unsigned 64-bit integer"))?;
    let index = u64::try_from(seq).map_err(|_| format!("sequence number {seq} is negative"))?;
    Ok(Position::new(commit, index))
}

/// Reads the position in the columns `tx_col`, `seq_col`; `None` when they are NULL.
fn read_position(
    row: &Row,
    tx_col: &str,
    seq_col: &str,
    after: Position,
) -> Result<Option<Position>, FeedError> {
    let bad = |reason: String| FeedError::backend(after, BadRow(reason));
    let tx: Option<String> = row.try_get(tx_col).map_err(|e| bad(e.to_string()))?;
    let seq: Option<i64> = row.try_get(seq_col).map_err(|e| bad(e.to_string()))?;
    match (tx, seq) {
        (Some(tx), Some(seq)) => position_of(&tx, seq).map(Some).map_err(bad),
        _ => Ok(None),
    }
}

/// One event row of the `read_feed` statement.
fn read_event(row: &Row, position: Position) -> Result<FeedEvent, FeedError> {
    let actor_id: String = row
        .try_get("actor_id")
        .map_err(|err| FeedError::Serialization {
            position,
            actor_id: String::new(),
            version: 0,
            reason: PostgresError::from(err).to_string(),
        })?;
    let event =
        decode_event(&actor_id, row).map_err(|err| FeedError::undecodable(position, err))?;
    Ok(FeedEvent { position, event })
}

/// Refuses a projection name the contract or PostgreSQL text cannot take.
pub(crate) fn check_projection_name(projection: &str) -> Result<(), FeedError> {
    validate_projection_name(projection)?;
    if projection.contains('\0') {
        return Err(FeedError::InvalidInput {
            reason: "a projection name must not contain a NUL byte (PostgreSQL text cannot \
                     store one)"
                .to_owned(),
        });
    }
    Ok(())
}

/// Reads a stored checkpoint.
pub(crate) fn decode_checkpoint(projection: &str, row: &Row) -> Result<Position, FeedError> {
    let text: String = row
        .try_get(0)
        .map_err(|err| FeedError::checkpoint(projection, PostgresError::from(err)))?;
    text.parse()
        .map_err(|err| FeedError::checkpoint(projection, err))
}

impl PostgresStore {
    /// Runs one of the store's statements on a pooled connection within the operation
    /// timeout; failures become `fail(fault)`.
    pub(crate) async fn feed_query<E>(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
        fail: E,
    ) -> Result<Vec<Row>, FeedError>
    where
        E: Fn(Fault) -> FeedError + Copy,
    {
        let timeout = self.inner.settings.operation_timeout;
        let run = async {
            let client = self
                .inner
                .pool
                .get()
                .await
                .map_err(|e| fail(Fault::Postgres(e.into())))?;
            query_cached(&client, statement, params)
                .await
                .map_err(|e| fail(Fault::Postgres(e.into())))
        };
        tokio::time::timeout(timeout, run)
            .await
            .unwrap_or_else(|_| Err(fail(Fault::TimedOut(TimedOut(timeout)))))
    }

    /// One page of the feed, and the highest transaction id (text) of committed events
    /// after `after` still held back by the horizon, if any.
    async fn read_page(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<(FeedPage, Option<String>), FeedError> {
        let (tx, seq) = position_params(after);
        let actor_types = filter.actor_types();
        let event_types = filter.event_types();
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 5] =
            [&tx, &seq, &actor_types, &event_types, &limit_param];
        let rows = self
            .feed_query(&self.inner.statements.read_feed, &params, |e| {
                FeedError::backend(after, e)
            })
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        let mut head = None;
        let mut held = None;
        for row in &rows {
            head = head.or(read_position(row, "head_tx", "head_seq", after)?);
            if held.is_none() {
                held = row
                    .try_get::<_, Option<String>>("held_tx")
                    .map_err(|e| FeedError::backend(after, PostgresError::from(e)))?;
            }
            if let Some(position) = read_position(row, "tx", "seq", after)? {
                events.push(read_event(row, position)?);
            }
        }
        let last = events.last().map(|e| e.position);
        let next = if events.len() < limit {
            // Every matching event below the horizon is in the page: the reader may go
            // on from the head (read below the same horizon).
            after.max(last.unwrap_or(after)).max(head.unwrap_or(after))
        } else {
            last.unwrap_or(after)
        };
        Ok((FeedPage { events, next }, held))
    }

    /// Waits, up to the read wait, until the horizon has passed transaction `held`
    /// (text); returns whether it has.
    ///
    /// The transaction holding the horizon is most often another append, whose commit
    /// bumps `woken` (this process's writers at once, other processes' by their
    /// notification): the horizon is looked at again on each such wake-up, and at least
    /// every [`HORIZON_RECHECK`] in case the holder is something else.
    async fn wait_for_horizon(
        &self,
        after: Position,
        held: &str,
        woken: &mut watch::Receiver<u64>,
    ) -> Result<bool, FeedError> {
        let deadline = tokio::time::Instant::now() + self.inner.feed.read_wait;
        let mut pause = Duration::from_millis(1);
        loop {
            woken.borrow_and_update();
            let rows = self
                .feed_query(&self.inner.statements.horizon_passed, &[&held], |e| {
                    FeedError::backend(after, e)
                })
                .await?;
            let passed: bool = rows
                .first()
                .ok_or_else(|| FeedError::backend(after, BadRow("no row".to_owned())))?
                .try_get(0)
                .map_err(|e| FeedError::backend(after, PostgresError::from(e)))?;
            if passed {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep(pause.min(deadline - now)) => {}
            }
            pause = (pause * 2).min(HORIZON_RECHECK);
        }
    }

    /// Whether an event after `after` is readable now.
    async fn feed_ready(&self, after: Position) -> Result<bool, FeedError> {
        let (tx, seq) = position_params(after);
        let rows = self
            .feed_query(&self.inner.statements.feed_ready, &[&tx, &seq], |e| {
                FeedError::backend(after, e)
            })
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| FeedError::backend(after, BadRow("no row".to_owned())))?;
        row.try_get(0)
            .map_err(|e| FeedError::backend(after, PostgresError::from(e)))
    }
}

/// Why a statement of the read side failed: the server, the pool, or the clock.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error(transparent)]
    TimedOut(TimedOut),
}

/// The feed of a PostgreSQL store: ordered by `(tx_id, seq)`, showing only rows whose
/// transaction is below the horizon `pg_snapshot_xmin(pg_current_snapshot())`. See the
/// [crate docs](crate#feed).
///
/// [`feed_lag`](EventFeed::feed_lag) counts every committed event after the position,
/// including those not yet readable because an older transaction is still open.
#[async_trait]
impl EventFeed for PostgresStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        validate_feed_read(limit)?;
        // Subscribed before reading, so that a commit during the read still wakes the
        // wait for the horizon below.
        let mut woken = self.inner.feed.wake.subscribe();
        let (page, held) = self.read_page(after, filter, limit).await?;
        match held {
            Some(held) if page.events.len() < limit && !self.inner.feed.read_wait.is_zero() => {
                // Committed events are held back by an older open transaction: wait a
                // little for the horizon to pass them, then read once more.
                if self.wait_for_horizon(after, &held, &mut woken).await? {
                    return Ok(self.read_page(after, filter, limit).await?.0);
                }
                Ok(page)
            }
            _ => Ok(page),
        }
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let after = Position::START;
        let rows = self
            .feed_query(&self.inner.statements.feed_head, &[], |e| {
                FeedError::backend(after, e)
            })
            .await?;
        match rows.first() {
            None => Ok(Position::START),
            Some(row) => {
                let tx: String = row
                    .try_get(0)
                    .map_err(|e| FeedError::backend(after, PostgresError::from(e)))?;
                let seq: i64 = row
                    .try_get(1)
                    .map_err(|e| FeedError::backend(after, PostgresError::from(e)))?;
                position_of(&tx, seq).map_err(|reason| FeedError::backend(after, BadRow(reason)))
            }
        }
    }

    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let (tx, seq) = position_params(after);
        let rows = self
            .feed_query(&self.inner.statements.feed_lag, &[&tx, &seq], |e| {
                FeedError::backend(after, e)
            })
            .await?;
        let count: i64 = rows
            .first()
            .ok_or_else(|| FeedError::backend(after, BadRow("no row".to_owned())))?
            .try_get(0)
            .map_err(|e| FeedError::backend(after, PostgresError::from(e)))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        let feed = &self.inner.feed;
        // Subscribe before looking, so that a commit between the look and the wait
        // still wakes this reader.
        let mut woken = feed.wake.subscribe();
        feed.start_listener();
        if self.feed_ready(after).await? {
            return Ok(());
        }
        tokio::select! {
            _ = woken.changed() => {}
            _ = tokio::time::sleep(feed.poll_interval) => {}
        }
        Ok(())
    }
}

/// Checkpoints in the `projection_checkpoints` table of the store's schema, as the text
/// `"tx_id:seq"` ([`Position`]'s `Display`).
#[async_trait]
impl CheckpointStore for PostgresStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        check_projection_name(projection)?;
        let rows = self
            .feed_query(
                &self.inner.statements.load_checkpoint,
                &[&projection],
                |e| FeedError::checkpoint(projection, e),
            )
            .await?;
        rows.first()
            .map(|row| decode_checkpoint(projection, row))
            .transpose()
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        check_projection_name(projection)?;
        let text = position.to_string();
        self.feed_query(
            &self.inner.statements.save_checkpoint,
            &[&projection, &text],
            |e| FeedError::checkpoint(projection, e),
        )
        .await?;
        Ok(())
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        check_projection_name(projection)?;
        self.feed_query(
            &self.inner.statements.delete_checkpoint,
            &[&projection],
            |e| FeedError::checkpoint(projection, e),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_parameters_and_back() {
        assert_eq!(position_params(Position::new(7, 3)), ("7".to_owned(), 3));
        assert_eq!(
            position_params(Position::new(u64::MAX, u64::MAX)),
            (u64::MAX.to_string(), i64::MAX)
        );
        assert_eq!(position_of("7", 3), Ok(Position::new(7, 3)));
        assert!(position_of("x", 3).is_err());
        assert!(position_of("7", -1).is_err());
    }
}
