//! Feed pages lent instead of copied.
//!
//! [`read_feed`](EventFeed::read_feed) gives owned events: for every event an [`Event`]
//! with four strings and a parsed [`serde_json::Value`], built on the thread that reads
//! and freed on the thread that handles. For a projection catching up on millions of
//! events that is most of the work. [`EventFeed::visit_feed`] lends each event instead,
//! borrowed from the store's row ([`EventRef`], its payload still JSON text where the
//! store keeps text), to a [`FeedVisitor`] running on the thread that reads. A projection
//! that only needs a few fields decodes them there, into its own type ([`FeedDecode`]),
//! and the runner hands it [`Decoded`] items.

use std::any::Any;
use std::fmt;
use std::ops::ControlFlow;

use async_trait::async_trait;

use super::{EventFeed, FeedError, FeedEvent, FeedFilter, Position};
use crate::{EventRef, HandlerError};

/// Receives the events of a feed page one at a time, borrowed from the store, on the
/// thread that reads them (for SQLite, a blocking thread holding a read transaction: do
/// no waiting in it).
///
/// Given to [`EventFeed::visit_feed`] and given back with the page's end.
pub trait FeedVisitor: Any + Send {
    /// Takes the event at `position`. [`ControlFlow::Break`] ends the page *before* this
    /// event: it counts as not read, and the page's `next` is the position of the event
    /// visited before it (or the position read from).
    fn visit(&mut self, position: Position, event: &EventRef<'_>) -> ControlFlow<()>;
}

impl fmt::Debug for dyn FeedVisitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn FeedVisitor")
    }
}

/// What [`EventFeed::visit_feed`] gives back: the visitor, and where to read on from.
#[derive(Debug)]
pub struct VisitedPage {
    /// The visitor given to the read, with whatever it gathered.
    pub visitor: Box<dyn FeedVisitor>,
    /// Where the next read starts: as [`FeedPage::next`](super::FeedPage::next) when the
    /// visitor took every event; the last event it took when it stopped early.
    pub next: Position,
}

/// Visits the events of a [`FeedPage`](super::FeedPage) already read: what
/// [`EventFeed::visit_feed`] does for a store that does not lend its rows.
pub(super) fn visit_page(
    page: &super::FeedPage,
    after: Position,
    visitor: &mut dyn FeedVisitor,
) -> Position {
    let mut last = after;
    for fed in &page.events {
        if visitor
            .visit(fed.position, &EventRef::from(&fed.event))
            .is_break()
        {
            return last;
        }
        last = fed.position;
    }
    page.next
}

/// A projection's own event type, decoded from each feed event on the thread that reads
/// the feed (see [`EventFeed::visit_feed`]). Give a projection runner a sink of
/// [`Decoded<Self>`] items and it reads the feed this way.
///
/// ```
/// use aether_core::{EventRef, FeedDecode, HandlerError};
/// use serde::Deserialize;
///
/// /// What a balance projection needs of an event: the actor and the amount.
/// struct Movement {
///     account: String,
///     amount: i64,
/// }
///
/// impl FeedDecode for Movement {
///     fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
///         #[derive(Deserialize)]
///         struct Data {
///             #[serde(default)]
///             amount: i64,
///         }
///         let data: Data = event.data.decode()?;
///         let sign = if event.event_type == "Withdrawn" { -1 } else { 1 };
///         Ok(Movement { account: event.actor_id.to_owned(), amount: sign * data.amount })
///     }
/// }
///
/// let mut stored = aether_core::testkit::cases::event("Account|1", 1);
/// stored.event_type = "Withdrawn".into();
/// stored.data = serde_json::json!({"amount": 30});
/// let movement = Movement::decode(&EventRef::from(&stored)).unwrap();
/// assert_eq!((movement.account.as_str(), movement.amount), ("Account|1", -30));
/// ```
pub trait FeedDecode: Sized + Send + Sync + 'static {
    /// Decodes one event. An error stops the projection at this event, as a handler
    /// error does (the runner names the projection, position, actor and event).
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError>;
}

/// A feed event decoded into a projection's own type `T`, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// Where the event is in the feed.
    pub position: Position,
    /// The decoded event.
    pub event: T,
}

/// Who an event is, for errors and logs: its position, actor, version, type and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventIdentity {
    /// The event's position in the feed.
    pub position: Position,
    /// The event's actor.
    pub actor_id: String,
    /// The event's version.
    pub version: i64,
    /// The event's type.
    pub event_type: String,
    /// The event's id.
    pub event_id: String,
}

impl EventIdentity {
    /// The identity of `event`, at `position`.
    pub fn of(position: Position, event: &EventRef<'_>) -> Self {
        EventIdentity {
            position,
            actor_id: event.actor_id.to_owned(),
            version: event.version,
            event_type: event.event_type.to_owned(),
            event_id: event.id.to_owned(),
        }
    }
}

/// One page of [`FeedItem`]s, as [`FeedItem::read_items`] reads it.
#[derive(Debug)]
pub struct ItemPage<T> {
    /// The items, in feed order.
    pub items: Vec<T>,
    /// Where the next read starts.
    pub next: Position,
    /// The events stepped over because they were at positions of `skip`.
    pub skipped: Vec<EventIdentity>,
    /// The event that failed to decode, and why: the page ends before it (`next` is the
    /// last item's position, or the position read from).
    pub failed: Option<(EventIdentity, HandlerError)>,
}

/// What a projection runner reads from the feed and commits to its sink a batch at a
/// time: the owned [`FeedEvent`], or a [`Decoded<T>`] made by [`FeedDecode`] from the
/// event the store lends. Implemented for those two; the runner picks the read by the
/// sink's item type.
#[async_trait]
pub trait FeedItem: Sized + Send + Sync + 'static {
    /// The item's position in the feed.
    fn position(&self) -> Position;

    /// The event's identity, if the item carries it (a [`FeedEvent`] does; a
    /// [`Decoded`] does not, and a runner reads the event again to name it in an error).
    fn identity(&self) -> Option<EventIdentity>;

    /// Reads at most `limit` events after `after` matching `filter`, as items, stepping
    /// over the events at the positions of `skip` (reported in [`ItemPage::skipped`]; they
    /// count towards `limit`).
    async fn read_items<F: EventFeed + ?Sized>(
        feed: &F,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        skip: &[Position],
    ) -> Result<ItemPage<Self>, FeedError>;
}

#[async_trait]
impl FeedItem for FeedEvent {
    fn position(&self) -> Position {
        self.position
    }

    fn identity(&self) -> Option<EventIdentity> {
        Some(EventIdentity::of(
            self.position,
            &EventRef::from(&self.event),
        ))
    }

    async fn read_items<F: EventFeed + ?Sized>(
        feed: &F,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        skip: &[Position],
    ) -> Result<ItemPage<Self>, FeedError> {
        let page = feed.read_feed(after, filter, limit).await?;
        let (skipped, items): (Vec<_>, Vec<_>) = page
            .events
            .into_iter()
            .partition(|e| skip.contains(&e.position));
        let skipped = skipped.iter().filter_map(FeedItem::identity).collect();
        Ok(ItemPage {
            items,
            next: page.next,
            skipped,
            failed: None,
        })
    }
}

/// The visitor that decodes a page into [`Decoded<T>`] items.
struct Collect<T> {
    items: Vec<Decoded<T>>,
    skip: Vec<Position>,
    skipped: Vec<EventIdentity>,
    failed: Option<(EventIdentity, HandlerError)>,
}

impl<T: FeedDecode> FeedVisitor for Collect<T> {
    fn visit(&mut self, position: Position, event: &EventRef<'_>) -> ControlFlow<()> {
        if self.skip.contains(&position) {
            self.skipped.push(EventIdentity::of(position, event));
            return ControlFlow::Continue(());
        }
        match T::decode(event) {
            Ok(event) => {
                self.items.push(Decoded { position, event });
                ControlFlow::Continue(())
            }
            Err(err) => {
                self.failed = Some((EventIdentity::of(position, event), err));
                ControlFlow::Break(())
            }
        }
    }
}

#[async_trait]
impl<T: FeedDecode> FeedItem for Decoded<T> {
    fn position(&self) -> Position {
        self.position
    }

    fn identity(&self) -> Option<EventIdentity> {
        None
    }

    async fn read_items<F: EventFeed + ?Sized>(
        feed: &F,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        skip: &[Position],
    ) -> Result<ItemPage<Self>, FeedError> {
        let visitor = Box::new(Collect::<T> {
            items: Vec::with_capacity(limit.min(4_096)),
            skip: skip.to_vec(),
            skipped: Vec::new(),
            failed: None,
        });
        let page = feed.visit_feed(after, filter, limit, visitor).await?;
        let visitor: Box<dyn Any> = page.visitor;
        let collected = visitor.downcast::<Collect<T>>().map_err(|_| {
            FeedError::backend(
                after,
                std::io::Error::other(
                    "visit_feed gave back another visitor than it was given (a bug of the \
                     store's EventFeed implementation)",
                ),
            )
        })?;
        let Collect {
            items,
            skipped,
            failed,
            ..
        } = *collected;
        Ok(ItemPage {
            items,
            next: page.next,
            skipped,
            failed,
        })
    }
}
