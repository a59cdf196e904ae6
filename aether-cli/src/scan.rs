//! Reading a whole feed once, from the start to its head, past rows that do not decode.
//!
//! A page read that meets an undecodable row fails as a whole with
//! [`FeedError::Serialization`] naming the row's position, so the scanner reads again
//! from where it was one event at a time up to that row (keeping the good events before
//! it), reports the row, and goes on after it.

use std::sync::Arc;

use aether::feed::{EventFeed, FeedError, FeedEvent, FeedFilter, Position};

/// What a scan yields: an event, or a row that is not one.
#[derive(Debug)]
pub(crate) enum Item {
    /// A stored event.
    Event(FeedEvent),
    /// A stored row that does not decode.
    Bad {
        /// Its position in the feed.
        position: Position,
        /// Its actor, as far as the store could tell.
        actor_id: String,
        /// Its version, as far as the store could tell.
        version: i64,
        /// Why it does not decode.
        reason: String,
    },
}

/// Reads `filter`'s events of `feed` from the start to the head the feed had when the
/// scanner was made.
pub(crate) struct Scanner {
    feed: Arc<dyn EventFeed>,
    filter: FeedFilter,
    after: Position,
    head: Position,
    page: std::vec::IntoIter<FeedEvent>,
    page_size: usize,
    /// Reading one event at a time, up to a bad row.
    slow: bool,
    done: bool,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("after", &self.after)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Scanner {
    pub(crate) async fn new(
        feed: Arc<dyn EventFeed>,
        filter: FeedFilter,
    ) -> Result<Self, FeedError> {
        let head = feed.feed_head().await?;
        Ok(Scanner {
            feed,
            filter,
            after: Position::START,
            head,
            page: Vec::new().into_iter(),
            page_size: 512,
            slow: false,
            done: false,
        })
    }

    /// The next event or bad row; `None` at the head.
    pub(crate) async fn next(&mut self) -> Result<Option<Item>, FeedError> {
        loop {
            if let Some(event) = self.page.next() {
                return Ok(Some(Item::Event(event)));
            }
            if self.done || self.after >= self.head {
                return Ok(None);
            }
            let limit = if self.slow { 1 } else { self.page_size };
            match self.feed.read_feed(self.after, &self.filter, limit).await {
                Ok(page) => {
                    let moved = page.next > self.after;
                    if page.events.is_empty() && !moved {
                        self.done = true;
                    }
                    self.after = self.after.max(page.next);
                    self.page = page.events.into_iter();
                }
                Err(FeedError::Serialization { .. }) if !self.slow => self.slow = true,
                Err(err) => return self.bad_row(err).map(Some),
            }
        }
    }

    /// Reports the bad row of a one-event read and steps over it; any other error stops
    /// the scan.
    fn bad_row(&mut self, err: FeedError) -> Result<Item, FeedError> {
        match err {
            FeedError::Serialization {
                position,
                actor_id,
                version,
                reason,
            } => {
                if position <= self.after {
                    // The store names no place past us: we cannot step over it.
                    return Err(FeedError::Serialization {
                        position,
                        actor_id,
                        version,
                        reason,
                    });
                }
                self.after = position;
                self.slow = false;
                Ok(Item::Bad {
                    position,
                    actor_id,
                    version,
                    reason,
                })
            }
            err => Err(err),
        }
    }
}
