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

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{BoxError, Event};

/// The separator between an actor's type and its id in stored actor ids, as the aether
/// runtime writes them: `"{ACTOR_TYPE}|{id}"`.
pub const ACTOR_TYPE_SEPARATOR: char = '|';

/// The actor type of a stored actor id written as `"{ACTOR_TYPE}|{id}"`, or `None` for an
/// id without the separator.
///
/// ```
/// assert_eq!(aether_core::actor_type_of("Account|42"), Some("Account"));
/// assert_eq!(aether_core::actor_type_of("legacy-id"), None);
/// ```
pub fn actor_type_of(actor_id: &str) -> Option<&str> {
    actor_id
        .split_once(ACTOR_TYPE_SEPARATOR)
        .map(|(actor_type, _)| actor_type)
}

/// A place in a store's feed: opaque, totally ordered, serializable.
///
/// Users keep positions and hand them back; only stores look inside. The feed is ordered
/// by `(commit, index)`: a store puts in `commit` what orders its commits (a sequence
/// assigned in commit order, a transaction id, a stream sequence) and in `index` the
/// place of an event inside one commit, if it needs one. [`Position::START`] is before
/// every event.
///
/// A store may hand out a position that is not an event's, in a page's
/// [`next`](FeedPage::next) (for instance `index = u64::MAX`: "past the whole commit",
/// after events a filter left out); reading after it works like any other.
///
/// Positions serialize as the string `"commit:index"` (also their `Display`, parsed back
/// by `FromStr`), so they fit a text column, a key-value entry or a log line.
///
/// ```
/// use aether_core::Position;
///
/// let p = Position::new(42, 3);
/// assert_eq!(p.to_string(), "42:3");
/// assert_eq!("42:3".parse::<Position>().unwrap(), p);
/// assert!(Position::START < p && p < Position::new(43, 0));
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#""42:3""#);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    commit: u64,
    index: u64,
}

impl Position {
    /// Before every event: reading after it reads the whole feed.
    pub const START: Position = Position {
        commit: 0,
        index: 0,
    };

    /// A position from its two parts. For store implementations; see the type's docs.
    pub const fn new(commit: u64, index: u64) -> Self {
        Position { commit, index }
    }

    /// The part that orders commits (store-defined).
    pub const fn commit(&self) -> u64 {
        self.commit
    }

    /// The place inside one commit (store-defined).
    pub const fn index(&self) -> u64 {
        self.index
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.commit, self.index)
    }
}

/// A string that is not a [`Position`] (`"commit:index"`, two unsigned integers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a feed position: expected \"commit:index\", two unsigned integers such as \"42:0\"")]
pub struct ParsePositionError {
    /// The string that was given.
    pub input: String,
}

impl FromStr for Position {
    type Err = ParsePositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || ParsePositionError {
            input: s.to_owned(),
        };
        let (commit, index) = s.split_once(':').ok_or_else(fail)?;
        Ok(Position {
            commit: commit.parse().map_err(|_| fail())?,
            index: index.parse().map_err(|_| fail())?,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An event as the feed gives it: the stored event and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Where the event is in the feed; resume after it to read what follows.
    pub position: Position,
    /// The event as stored (decode it with the actor type's upcasters to get its
    /// current shape: `aether::decode_event::<A>(&feed_event.event)`).
    pub event: Event,
}

/// Which events of the feed a reader wants: by actor type, by event type, or all.
///
/// Empty lists mean "any". An event matches when its actor type (the part of its actor
/// id before `|`, see [`actor_type_of`]) is one of the actor types, if any are given,
/// and its event type is one of the event types, if any are given.
///
/// ```
/// use aether_core::FeedFilter;
/// use aether_core::testkit::cases::event;
///
/// let deposits = FeedFilter::all().actor_type("Account").event_type("Noted");
/// assert!(deposits.matches(&event("Account|1", 1)));
/// assert!(!deposits.matches(&event("Order|1", 1)));
/// assert!(FeedFilter::all().matches(&event("no-type", 1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeedFilter {
    actor_types: Vec<String>,
    event_types: Vec<String>,
}

impl FeedFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Adds an actor type (as in `EventSourced::ACTOR_TYPE`) to those wanted.
    pub fn actor_type(mut self, actor_type: impl Into<String>) -> Self {
        self.actor_types.push(actor_type.into());
        self
    }

    /// Adds an event type (as in `DomainEvent::event_type`) to those wanted.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// The actor types wanted; empty for any.
    pub fn actor_types(&self) -> &[String] {
        &self.actor_types
    }

    /// The event types wanted; empty for any.
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Whether the filter lets every event through.
    pub fn is_all(&self) -> bool {
        self.actor_types.is_empty() && self.event_types.is_empty()
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        let actor_ok = self.actor_types.is_empty()
            || actor_type_of(&event.actor_id)
                .is_some_and(|t| self.actor_types.iter().any(|wanted| wanted == t));
        let event_ok = self.event_types.is_empty() || self.event_types.contains(&event.event_type);
        actor_ok && event_ok
    }
}

/// One page of the feed: the events read, and where to read on from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeedPage {
    /// The events after the position read from, in feed order, at most the limit asked.
    pub events: Vec<FeedEvent>,
    /// Where the next read starts (pass it as `after`): the last event's position, or
    /// further when the store looked past events the filter left out, or the position
    /// read from when nothing new was found.
    pub next: Position,
}

/// Everything reading the feed or a checkpoint can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The backend failed (connection lost, I/O, server error); reading again later may
    /// succeed.
    #[error("reading the feed after position {after} failed: {source}")]
    Backend {
        /// The position the read started after.
        after: Position,
        /// The backend's own error.
        source: BoxError,
    },
    /// A stored event could not be decoded into an [`Event`]; reading again will not
    /// help. Names the event's actor, version and position.
    #[error(
        "cannot decode the stored event of actor {actor_id:?} at version {version} \
         (feed position {position}): {reason}"
    )]
    Serialization {
        /// The event's position in the feed.
        position: Position,
        /// The event's actor.
        actor_id: String,
        /// The event's version.
        version: i64,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the checkpoint of a projection failed; trying again later may
    /// succeed.
    #[error("the checkpoint of projection {projection:?} could not be read or saved: {source}")]
    Checkpoint {
        /// The projection's name.
        projection: String,
        /// The backend's own error.
        source: BoxError,
    },
    /// The request is malformed (an empty projection name, a limit of 0).
    #[error("invalid feed request: {reason}")]
    InvalidInput {
        /// What is wrong, in words.
        reason: String,
    },
}

impl FeedError {
    /// A [`Backend`](FeedError::Backend) error.
    pub fn backend(
        after: Position,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FeedError::Backend {
            after,
            source: Arc::new(source),
        }
    }

    /// A [`Checkpoint`](FeedError::Checkpoint) error.
    pub fn checkpoint(
        projection: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FeedError::Checkpoint {
            projection: projection.into(),
            source: Arc::new(source),
        }
    }

    /// Whether trying again later may succeed (a backend or checkpoint failure), as
    /// opposed to data or a request that will fail the same way again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FeedError::Backend { .. } | FeedError::Checkpoint { .. }
        )
    }
}

/// Checks the arguments every feed read must check; stores call it first.
///
/// # Errors
///
/// [`FeedError::InvalidInput`] for a limit of 0.
pub fn validate_feed_read(limit: usize) -> Result<(), FeedError> {
    if limit == 0 {
        return Err(FeedError::InvalidInput {
            reason: "a feed page must hold at least one event (limit 0)".to_owned(),
        });
    }
    Ok(())
}

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

/// Where projections keep their checkpoints: the position of the last event each one
/// has handled, by projection name. Stores of this repository keep them beside the
/// events (a table, a key-value bucket), so a checkpoint lives as long as the feed it
/// points into.
///
/// # Cancel safety
///
/// Reads are cancel safe; a dropped save or delete may or may not have taken effect.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// The projection's checkpoint, or `None` if it has none (it starts from the
    /// beginning).
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError>;

    /// Records that the projection has handled every event up to `position`.
    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError>;

    /// Forgets the projection's checkpoint, so that it starts again from the beginning.
    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError>;
}

/// Checks a projection name; stores call it first in every [`CheckpointStore`] method.
///
/// # Errors
///
/// [`FeedError::InvalidInput`] for an empty name or one longer than 200 bytes.
pub fn validate_projection_name(projection: &str) -> Result<(), FeedError> {
    let reason = if projection.is_empty() {
        "a projection name must not be empty".to_owned()
    } else if projection.len() > 200 {
        format!(
            "a projection name may be at most 200 bytes long; this one is {} bytes",
            projection.len()
        )
    } else {
        return Ok(());
    };
    Err(FeedError::InvalidInput { reason })
}

/// The events of `feed` after `after` that match `filter`, as a stream: first those
/// already stored (read in pages of `page_size`), then each new one as it is stored,
/// forever.
///
/// Between pages it waits with [`EventFeed::wait_for_events`], so an idle stream costs one
/// wake-up per poll interval of the store, not a busy loop. An error is yielded as an
/// item; polling the stream again retries the same read, so a caller that wants to stop
/// on errors stops, and one that wants to retry backs off and polls again.
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use aether_core::{follow, EventStore, FeedFilter, InMemoryStore, Position};
/// use aether_core::testkit::cases::event;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = Arc::new(InMemoryStore::new());
/// let mut feed = follow(store.clone(), Position::START, FeedFilter::all(), 100);
/// store.save_event(&event("Account|1", 1)).await.unwrap();
/// let first = feed.next().await.unwrap().unwrap();
/// assert_eq!(first.event.actor_id, "Account|1");
/// # });
/// ```
pub fn follow<F: EventFeed + ?Sized>(
    feed: Arc<F>,
    after: Position,
    filter: FeedFilter,
    page_size: usize,
) -> BoxStream<'static, Result<FeedEvent, FeedError>> {
    struct State<F: ?Sized> {
        feed: Arc<F>,
        after: Position,
        filter: FeedFilter,
        page_size: usize,
        idle: bool,
    }
    let state = State {
        feed,
        after,
        filter,
        page_size: page_size.max(1),
        idle: false,
    };
    stream::unfold(state, |mut s| async move {
        let page = loop {
            if s.idle {
                if let Err(err) = s.feed.wait_for_events(s.after).await {
                    return Some((stream::iter(vec![Err(err)]), s));
                }
            }
            match s.feed.read_feed(s.after, &s.filter, s.page_size).await {
                Ok(page) => {
                    s.idle = page.events.is_empty();
                    s.after = s.after.max(page.next);
                    if !page.events.is_empty() {
                        break page;
                    }
                }
                Err(err) => return Some((stream::iter(vec![Err(err)]), s)),
            }
        };
        let items: Vec<_> = page.events.into_iter().map(Ok).collect();
        Some((stream::iter(items), s))
    })
    .flatten()
    .boxed()
}
