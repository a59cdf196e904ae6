//! What a feed read returns: one page ([`FeedPage`]) of events with their positions
//! ([`FeedEvent`]).

use super::Position;
use crate::Event;

/// An event as the feed gives it: the stored event and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Where the event is in the feed; resume after it to read what follows.
    pub position: Position,
    /// The event as stored (decode it with the actor type's upcasters to get its
    /// current shape: `aether::decode_event::<A>(&feed_event.event)`).
    pub event: Event,
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
