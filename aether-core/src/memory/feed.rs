//! The feed of [`InMemoryStore`]: the global log, and the projections' checkpoints.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use async_trait::async_trait;

use super::InMemoryStore;
use crate::feed::validate_projection_name;
use crate::{
    validate_feed_read, CheckpointStore, EventFeed, FeedError, FeedEvent, FeedFilter, FeedPage,
    FeedVisitor, Position, VisitedPage,
};

/// The feed position of the log's `i`-th event (0-based): `i + 1`, so that
/// [`Position::START`] comes before the first.
fn position_of(i: usize) -> Position {
    Position::new(i as u64 + 1, 0)
}

/// The log index of the first event after `after`.
fn first_index_after(after: Position) -> usize {
    // Positions are `n:0`; any `n:k` with k > 0 lies between event n and event n + 1.
    usize::try_from(after.commit()).unwrap_or(usize::MAX)
}

#[async_trait]
impl EventFeed for InMemoryStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        validate_feed_read(limit)?;
        let log = self.log();
        let start = first_index_after(after).min(log.len());
        let mut events = Vec::new();
        let mut next = after;
        for (i, event) in log.iter().enumerate().skip(start) {
            next = next.max(position_of(i));
            if filter.matches_parts(&event.actor_id, event.event_type()) {
                let position = position_of(i);
                let event = event
                    .to_event()
                    .map_err(|err| FeedError::undecodable(position, err))?;
                events.push(FeedEvent { position, event });
                if events.len() == limit {
                    break;
                }
            }
        }
        Ok(FeedPage { events, next })
    }

    /// Lends the log's records themselves (their payload is the stored JSON text), under
    /// the log's lock: no copy of an event is made.
    async fn visit_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        mut visitor: Box<dyn FeedVisitor>,
    ) -> Result<VisitedPage, FeedError> {
        validate_feed_read(limit)?;
        let log = self.log();
        let start = first_index_after(after).min(log.len());
        let (mut next, mut last, mut taken) = (after, after, 0);
        for (i, record) in log.iter().enumerate().skip(start) {
            let position = position_of(i);
            if filter.matches_parts(&record.actor_id, record.event_type()) {
                if visitor.visit(position, &record.lend()).is_break() {
                    next = last;
                    break;
                }
                last = position;
                taken += 1;
            }
            next = next.max(position);
            if taken == limit {
                break;
            }
        }
        drop(log);
        Ok(VisitedPage { visitor, next })
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let len = self.log_len.load(SeqCst);
        Ok(if len == 0 {
            Position::START
        } else {
            Position::new(len, 0)
        })
    }

    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let len = self.log_len.load(SeqCst);
        Ok(len.saturating_sub(after.commit()))
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        /// Counts a reader in `waiting` for as long as it waits (a dropped wait too).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        loop {
            let notified = self.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, SeqCst);
            let _waiting = Waiting(&self.waiting);
            if self.log_len.load(SeqCst) > after.commit() {
                return Ok(());
            }
            notified.await;
        }
    }
}

#[async_trait]
impl CheckpointStore for InMemoryStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        validate_projection_name(projection)?;
        Ok(self.checkpoints.get(projection).map(|p| *p))
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        validate_projection_name(projection)?;
        self.checkpoints.insert(projection.to_owned(), position);
        Ok(())
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        validate_projection_name(projection)?;
        self.checkpoints.remove(projection);
        Ok(())
    }
}
