//! The read side of a store: every event in one total order ([`EventFeed`]), read from a
//! [`Position`] in pages or followed live ([`follow`]), and the durable checkpoints of the
//! projections that read it ([`CheckpointStore`]).
//!
//! # Positions
//!
//! A [`Position`] is a place in a store's feed: opaque (each store decides what its two
//! numbers mean), ordered, serializable (as the string `"commit:index"`). Reads are
//! **exclusive**: [`read_feed`](EventFeed::read_feed) returns the events *after* the
//! position it is given, so a reader passes the position of the last event it handled (or
//! [`Position::START`] for the beginning).
//!
//! # The promise
//!
//! A reader that resumes after position `p` never misses an event: every event a store
//! stores after a read returned `p` has a position greater than `p`, even when
//! transactions commit in another order than they started (the hard case on PostgreSQL).
//! The events of one actor come in version order. The conformance suite checks this with
//! many writers racing a tailing reader ([`feed_conformance!`](crate::feed_conformance)).
//!
//! # Examples
//!
//! ```
//! use aether_core::{EventFeed, EventStore, FeedFilter, InMemoryStore, Position};
//! use aether_core::testkit::cases::event;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = InMemoryStore::new();
//! store.save_event(&event("Account|1", 1)).await.unwrap();
//! store.save_event(&event("Order|7", 1)).await.unwrap();
//!
//! let page = store
//!     .read_feed(Position::START, &FeedFilter::all().actor_type("Account"), 100)
//!     .await
//!     .unwrap();
//! assert_eq!(page.events.len(), 1);
//! assert_eq!(page.events[0].event.actor_id, "Account|1");
//! // Resume after `page.next` to see only what comes later.
//! assert!(store.read_feed(page.next, &FeedFilter::all(), 100).await.unwrap().events.is_empty());
//! # });
//! ```

use std::sync::Arc;

use async_trait::async_trait;

mod checkpoint;
mod error;
mod filter;
mod follow;
mod page;
mod position;
mod visit;

pub use checkpoint::{validate_projection_name, CheckpointStore};
pub use error::{validate_feed_read, FeedError};
pub use filter::{actor_type_of, FeedFilter, ACTOR_TYPE_SEPARATOR};
pub use follow::follow;
pub use page::{FeedEvent, FeedPage};
pub use position::{ParsePositionError, Position};
pub use visit::{Decoded, EventIdentity, FeedDecode, FeedItem, FeedVisitor, ItemPage, VisitedPage};

/// All of a store's events in one total order, readable from any [`Position`]: what
/// projections, durable subscriptions and tools read. An optional trait beside
/// [`EventStore`](crate::EventStore); every store of this repository implements it.
///
/// # What a store must guarantee
///
/// - **Total order, exclusive reads.** `read_feed(after, ..)` returns events with
///   positions strictly greater than `after`, ascending, each event of the store at
///   exactly one position. An actor's events come in version order.
/// - **Never skip.** Once a read returned a page whose `next` is `p`, every event
///   the store holds or will hold that the reader has not been given has a position
///   greater than `p`. A store whose writers commit out of order must hold back events
///   until no earlier commit can still appear.
/// - **Atomic batches.** A batch saved with `save_events` becomes visible all at once.
/// - **Read your writes.** An event is readable once its save has returned, unless the
///   store documents why it may hold it back for a while (PostgreSQL: while an older
///   transaction anywhere in the cluster is still open; its reads then wait a bounded
///   time for it). Held back is never skipped: it comes later, after the position.
/// - **Lending reads agree.** [`visit_feed`](EventFeed::visit_feed) lends exactly the
///   events `read_feed` would return from the same position, with the same `next`; a
///   visitor that stops ends the page before the event it stopped at. (The default
///   implementation is right by construction; a store that overrides it to lend its rows
///   must keep this.)
/// - **Wake-ups.** [`wait_for_events`](EventFeed::wait_for_events) returns soon after an
///   event is stored past `after` (in this process or, within the store's poll interval,
///   another), and otherwise after at most the poll interval; a reader then reads again.
///
/// The conformance suite ([`feed_conformance!`](crate::feed_conformance)) checks all of
/// this.
///
/// # Cancel safety
///
/// Every method only reads: dropping a future changes nothing.
#[async_trait]
pub trait EventFeed: Send + Sync + 'static {
    /// Reads at most `limit` events after `after` (exclusive) that match `filter`, in
    /// feed order.
    ///
    /// # Errors
    ///
    /// [`FeedError::InvalidInput`] for a `limit` of 0; [`FeedError::Backend`] when the
    /// backend fails; [`FeedError::Serialization`] for a stored row that is not an event.
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError>;

    /// The position of the last event a reader can read now; [`Position::START`] for an
    /// empty feed.
    async fn feed_head(&self) -> Result<Position, FeedError>;

    /// How many events of the feed come after `after`: the lag of a reader there.
    ///
    /// Exact on an idle store; while writers are busy it may count events not yet
    /// readable (each store's docs say how it counts).
    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError>;

    /// Resolves when events after `after` may be readable: at once if some already are,
    /// else when a commit is signalled, else after the store's poll interval. A wake-up
    /// without new events is allowed; the reader reads again and waits again.
    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError>;

    /// Reads as [`read_feed`](EventFeed::read_feed) does, but lends each event to
    /// `visitor` instead of returning it: borrowed from the store ([`EventRef`](crate::EventRef)), its
    /// payload JSON text where the store keeps text, on the thread that reads. No owned
    /// [`Event`](crate::Event) or parsed [`serde_json::Value`] is made, which is most of
    /// the cost of a read while catching up. The visitor can end the page early (see
    /// [`FeedVisitor::visit`]).
    ///
    /// The default reads a page with `read_feed` and lends its events: right for every
    /// store, and what a store that parses its rows anyway (PostgreSQL's JSONB, NATS's
    /// messages) keeps. The SQLite store lends its rows.
    ///
    /// # Errors
    ///
    /// As [`read_feed`](EventFeed::read_feed). On an error the visitor is dropped.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use aether_core::{EventFeed, EventRef, EventStore, FeedFilter, FeedVisitor, InMemoryStore, Position};
    /// use aether_core::testkit::cases::event;
    ///
    /// /// Counts the events of each page.
    /// struct Count(usize);
    ///
    /// impl FeedVisitor for Count {
    ///     fn visit(&mut self, _: Position, _: &EventRef<'_>) -> ControlFlow<()> {
    ///         self.0 += 1;
    ///         ControlFlow::Continue(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = InMemoryStore::new();
    /// store.save_event(&event("Account|1", 1)).await.unwrap();
    /// let page = store
    ///     .visit_feed(Position::START, &FeedFilter::all(), 100, Box::new(Count(0)))
    ///     .await
    ///     .unwrap();
    /// let count: Box<dyn std::any::Any> = page.visitor;
    /// assert_eq!(count.downcast::<Count>().unwrap().0, 1);
    /// # });
    /// ```
    async fn visit_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        mut visitor: Box<dyn FeedVisitor>,
    ) -> Result<VisitedPage, FeedError> {
        let page = self.read_feed(after, filter, limit).await?;
        let next = visit::visit_page(&page, after, &mut *visitor);
        Ok(VisitedPage { visitor, next })
    }
}

macro_rules! forward_feed {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<F: EventFeed + ?Sized> EventFeed for $ptr<F> {
            async fn read_feed(
                &self,
                after: Position,
                filter: &FeedFilter,
                limit: usize,
            ) -> Result<FeedPage, FeedError> {
                (**self).read_feed(after, filter, limit).await
            }
            async fn feed_head(&self) -> Result<Position, FeedError> {
                (**self).feed_head().await
            }
            async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
                (**self).feed_lag(after).await
            }
            async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
                (**self).wait_for_events(after).await
            }
            async fn visit_feed(
                &self,
                after: Position,
                filter: &FeedFilter,
                limit: usize,
                visitor: Box<dyn FeedVisitor>,
            ) -> Result<VisitedPage, FeedError> {
                (**self).visit_feed(after, filter, limit, visitor).await
            }
        }

        #[async_trait]
        impl<C: CheckpointStore + ?Sized> CheckpointStore for $ptr<C> {
            async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
                (**self).load_checkpoint(projection).await
            }
            async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
                (**self).save_checkpoint(projection, position).await
            }
            async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
                (**self).delete_checkpoint(projection).await
            }
        }
    )*};
}

forward_feed!(Arc, Box);
