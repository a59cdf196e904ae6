//! A feed followed live, as a stream ([`follow`]).

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};

use super::{EventFeed, FeedError, FeedEvent, FeedFilter, Position};

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
