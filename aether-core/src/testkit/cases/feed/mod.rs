//! The feed and checkpoints: what every [`EventFeed`] and [`CheckpointStore`] must do.
//!
//! These cases read the whole feed, so each needs a store of its own, empty when the
//! case starts (a fresh file, schema or namespace).

use std::sync::Arc;
use std::time::Duration;

use super::support::{actor, event};
use crate::{
    CheckpointStore, Event, EventFeed, EventStore, FeedError, FeedEvent, FeedFilter, Position,
};

mod racing;
mod visit;

pub use racing::*;
pub use visit::*;

/// How long a reader may take to see an event once it is stored, in these cases: far
/// above any store's poll interval.
const WAKE_LIMIT: Duration = Duration::from_secs(20);

/// Reads the whole feed after `after` in pages of `page`, checking page by page that
/// positions increase and that `next` never goes back.
async fn read_all<S: EventFeed + ?Sized>(
    store: &S,
    after: Position,
    filter: &FeedFilter,
    page: usize,
) -> Vec<FeedEvent> {
    let mut after = after;
    let mut all: Vec<FeedEvent> = Vec::new();
    loop {
        let got = store
            .read_feed(after, filter, page)
            .await
            .expect("reading the feed");
        assert!(
            got.events.len() <= page,
            "a page of limit {page} held {} events",
            got.events.len()
        );
        assert!(
            got.next >= after,
            "a page read after {after} said to read on after {}, which is before it",
            got.next
        );
        for e in &got.events {
            assert!(
                e.position > after,
                "read after {after}, got an event at {} (reads are exclusive)",
                e.position
            );
            assert!(
                e.position <= got.next,
                "a page's next ({}) is before one of its events ({})",
                got.next,
                e.position
            );
            if let Some(last) = all.last() {
                assert!(
                    e.position > last.position,
                    "feed positions must increase: {} came after {}",
                    e.position,
                    last.position
                );
            }
            assert!(
                filter.matches(&e.event),
                "the filter let through {:?}",
                e.event
            );
        }
        let empty = got.events.is_empty();
        all.extend(got.events);
        // A page that found nothing may still move on past events the filter left out;
        // the read ends when a page finds nothing and moves nowhere.
        if empty && got.next == after {
            return all;
        }
        after = got.next;
    }
}

fn ids(events: &[FeedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.id.as_str()).collect()
}

/// An empty store has an empty feed: no events, head at the start, no lag.
pub async fn feed_of_an_empty_store_is_empty<S: EventStore + EventFeed>(store: Arc<S>) {
    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 10)
        .await
        .expect("reading an empty feed");
    assert!(page.events.is_empty(), "an empty store's feed: {page:?}");
    assert_eq!(page.next, Position::START, "nothing read, nothing to skip");
    assert_eq!(store.feed_head().await.expect("head"), Position::START);
    assert_eq!(store.feed_lag(Position::START).await.expect("lag"), 0);
    match store
        .read_feed(Position::START, &FeedFilter::all(), 0)
        .await
    {
        Err(FeedError::InvalidInput { .. }) => {}
        other => panic!("a page limit of 0 must be refused as invalid input, got {other:?}"),
    }
}

/// Saved one after the other, events come out of the feed in the order they were saved,
/// each once, exactly as stored; the head is the last one's position and the lag counts
/// what comes after a position.
pub async fn feed_lists_every_event_once_in_save_order<S: EventStore + EventFeed>(store: Arc<S>) {
    let (a, b, c) = (
        actor("Account|feed-a"),
        actor("Account|feed-b"),
        actor("Order|feed-c"),
    );
    let batches: Vec<Vec<Event>> = vec![
        vec![event(&a, 1), event(&a, 2)],
        vec![event(&b, 1)],
        vec![event(&a, 3)],
        vec![event(&c, 1), event(&c, 2), event(&c, 3)],
        vec![event(&b, 2)],
    ];
    for batch in &batches {
        store.save_events(batch).await.expect("saving a batch");
    }
    let saved: Vec<Event> = batches.into_iter().flatten().collect();
    for page in [1, 2, 100] {
        let fed = read_all(&*store, Position::START, &FeedFilter::all(), page).await;
        let fed_events: Vec<Event> = fed.iter().map(|e| e.event.clone()).collect();
        assert_eq!(
            fed_events, saved,
            "the feed (pages of {page}) must hold every saved event once, as stored, in \
             the order of the saves"
        );
    }
    let fed = read_all(&*store, Position::START, &FeedFilter::all(), 100).await;
    let last = fed.last().expect("events").position;
    assert_eq!(
        store.feed_head().await.expect("head"),
        last,
        "head is the last event"
    );
    assert_eq!(
        store.feed_lag(Position::START).await.expect("lag"),
        saved.len() as u64,
        "lag from the start counts every event"
    );
    assert_eq!(
        store.feed_lag(last).await.expect("lag"),
        0,
        "no lag at the head"
    );
    assert_eq!(
        store.feed_lag(fed[3].position).await.expect("lag"),
        (saved.len() - 4) as u64,
        "lag after the 4th event"
    );
}

/// Reading after any event's position gives exactly the events after it; a position
/// survives a round trip through its string form.
pub async fn feed_resumes_after_any_position<S: EventStore + EventFeed>(store: Arc<S>) {
    let a = actor("Account|resume-a");
    let b = actor("Account|resume-b");
    for v in 1..=6 {
        store.save_event(&event(&a, v)).await.expect("save");
        store.save_event(&event(&b, v)).await.expect("save");
    }
    let all = read_all(&*store, Position::START, &FeedFilter::all(), 100).await;
    assert_eq!(all.len(), 12);
    for (i, e) in all.iter().enumerate() {
        let resumed: Position = e.position.to_string().parse().expect("a position parses");
        assert_eq!(resumed, e.position, "Display and FromStr round trip");
        let rest = read_all(&*store, resumed, &FeedFilter::all(), 5).await;
        assert_eq!(
            ids(&rest),
            ids(&all[i + 1..]),
            "reading after the position of event #{i} ({})",
            e.position
        );
    }
}

/// Filters by actor type and event type, alone and together; ids without an actor type
/// pass only a filter without actor types; paging through a filtered feed ends.
pub async fn feed_filters_by_actor_type_and_event_type<S: EventStore + EventFeed>(store: Arc<S>) {
    let account = actor("Account|filter");
    let account2 = actor("Account|filter");
    let order = actor("Order|filter");
    let plain = actor("plain");
    let mut saved = Vec::new();
    for v in 1..=4 {
        for id in [&account, &order, &plain, &account2] {
            let mut e = event(id, v);
            if v % 2 == 0 {
                e.event_type = "Other".to_owned();
            }
            store.save_event(&e).await.expect("save");
            saved.push(e);
        }
    }
    let expect = |filter: &FeedFilter| -> Vec<String> {
        saved
            .iter()
            .filter(|e| filter.matches(e))
            .map(|e| e.id.clone())
            .collect()
    };
    let filters = [
        FeedFilter::all().actor_type("Account"),
        FeedFilter::all().actor_type("Order").actor_type("Account"),
        FeedFilter::all().event_type("Other"),
        FeedFilter::all().actor_type("Account").event_type("Noted"),
        FeedFilter::all().actor_type("Nobody"),
        FeedFilter::all(),
    ];
    for filter in &filters {
        for page in [1, 3, 100] {
            let fed = read_all(&*store, Position::START, filter, page).await;
            let fed: Vec<String> = fed.iter().map(|e| e.event.id.clone()).collect();
            assert_eq!(fed, expect(filter), "filter {filter:?}, pages of {page}");
        }
    }
    assert_eq!(expect(&FeedFilter::all().actor_type("Account")).len(), 8);
    assert_eq!(expect(&FeedFilter::all().actor_type("Nobody")).len(), 0);
}

/// A reader waiting at the head wakes up when an event is stored, and a wait after a
/// position that already has events after it returns at once.
pub async fn feed_wait_wakes_up_on_new_events<S: EventStore + EventFeed>(store: Arc<S>) {
    let a = actor("Account|wake");
    let waiting = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            // Wait until an event is readable, however many wake-ups that takes.
            loop {
                store
                    .wait_for_events(Position::START)
                    .await
                    .expect("waiting for events");
                let page = store
                    .read_feed(Position::START, &FeedFilter::all(), 10)
                    .await
                    .expect("reading");
                if !page.events.is_empty() {
                    return page.events;
                }
            }
        })
    };
    store.save_event(&event(&a, 1)).await.expect("save");
    let seen = tokio::time::timeout(WAKE_LIMIT, waiting)
        .await
        .unwrap_or_else(|_| {
            panic!("a waiting reader did not see a new event within {WAKE_LIMIT:?}")
        })
        .expect("the reader task");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].event.actor_id, a);
    tokio::time::timeout(WAKE_LIMIT, store.wait_for_events(Position::START))
        .await
        .expect("waiting after a position with events after it returns at once")
        .expect("waiting");
}

/// Checkpoints are kept per projection name, overwritten by a save (even with a smaller
/// position: a reset rewinds), forgotten by a delete; an empty name is refused.
pub async fn checkpoints_round_trip_per_projection<S: CheckpointStore>(store: Arc<S>) {
    let (one, two) = (actor("balances"), actor("ledger/v2 é"));
    assert_eq!(store.load_checkpoint(&one).await.expect("load"), None);
    store
        .save_checkpoint(&one, Position::new(10, 2))
        .await
        .expect("save");
    assert_eq!(
        store.load_checkpoint(&one).await.expect("load"),
        Some(Position::new(10, 2))
    );
    assert_eq!(
        store.load_checkpoint(&two).await.expect("load"),
        None,
        "per name"
    );
    store
        .save_checkpoint(&two, Position::new(u64::MAX, u64::MAX))
        .await
        .expect("the largest position is stored intact");
    assert_eq!(
        store.load_checkpoint(&two).await.expect("load"),
        Some(Position::new(u64::MAX, u64::MAX))
    );
    store
        .save_checkpoint(&one, Position::new(3, 0))
        .await
        .expect("save a smaller position");
    assert_eq!(
        store.load_checkpoint(&one).await.expect("load"),
        Some(Position::new(3, 0)),
        "a save overwrites, even backwards"
    );
    store.delete_checkpoint(&one).await.expect("delete");
    assert_eq!(store.load_checkpoint(&one).await.expect("load"), None);
    store
        .delete_checkpoint(&one)
        .await
        .expect("deleting a missing checkpoint is not an error");
    assert!(
        store.save_checkpoint("", Position::START).await.is_err(),
        "an empty projection name is refused"
    );
}
