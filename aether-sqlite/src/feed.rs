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

use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    submit_write, validate_feed_read, validate_projection_name, CheckpointStore, EventFeed,
    FeedError, FeedFilter, FeedPage, FeedVisitor, Position, VisitedPage,
};
use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::watch;

mod page;
mod parse;

use crate::writer::Request;
use crate::SqliteStore;
use page::{read_page, visit_page};

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
