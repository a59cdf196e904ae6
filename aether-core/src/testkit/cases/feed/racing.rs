//! The feed's central promise under load: writers racing while readers tail the feed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use super::{ids, read_all, WAKE_LIMIT};
use crate::testkit::cases::support::{actor, event};
use crate::{follow, Event, EventFeed, EventStore, FeedError, FeedEvent, FeedFilter, Position};

/// The feed's central promise, under load: 8 writers append to their own actors and race
/// on a shared one while two readers tail the feed (one with [`follow`], one with small
/// pages). Each reader sees every stored event exactly once, none skipped, in one order
/// that a fresh read of the whole feed repeats; no conflicting write ever appears.
pub async fn feed_tailing_readers_see_every_event_once_while_writers_race<S>(store: Arc<S>)
where
    S: EventStore + EventFeed,
{
    const WRITERS: usize = 8;
    const ROUNDS: i64 = 30;
    let shared = actor("Racer|shared");
    let follower = follow(Arc::clone(&store), Position::START, FeedFilter::all(), 7);
    let (done_tx, done_rx) = tokio::sync::watch::channel(None::<usize>);
    let tail_follow = tokio::spawn(collect_follow(follower, done_rx.clone()));
    let tail_pages = tokio::spawn(collect_pages(Arc::clone(&store), done_rx));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let shared = shared.clone();
            let own = actor(&format!("Racer|writer-{w}"));
            tokio::spawn(async move {
                let mut stored = Vec::new();
                for round in 1..=ROUNDS {
                    // Own actor: batches of 1 to 3 events.
                    let size = 1 + (round as usize + w) % 3;
                    let first = (round - 1) * 3 + 1;
                    let batch: Vec<Event> =
                        (0..size as i64).map(|k| event(&own, first + k)).collect();
                    store.save_events(&batch).await.expect("saving own events");
                    stored.extend(batch);
                    // Shared actor: race at latest + 1; the losers conflict.
                    let latest = store.get_latest_version(&shared).await.expect("latest");
                    let e = event(&shared, latest + 1);
                    match store.save_event(&e).await {
                        Ok(()) => stored.push(e),
                        Err(err) if err.is_version_conflict() => {}
                        Err(err) => panic!("racing on the shared actor: {err}"),
                    }
                }
                stored
            })
        })
        .collect();
    let mut stored: Vec<Event> = Vec::new();
    for writer in writers {
        stored.extend(writer.await.expect("a writer task"));
    }
    done_tx.send_replace(Some(stored.len()));

    let by_follow = tail_follow.await.expect("the follow reader");
    let by_pages = tail_pages.await.expect("the paging reader");
    let fresh = read_all(&*store, Position::START, &FeedFilter::all(), 1000).await;
    let stored_ids: HashSet<&str> = stored.iter().map(|e| e.id.as_str()).collect();
    for (reader, seen) in [
        ("follow", &by_follow),
        ("pages", &by_pages),
        ("fresh read", &fresh),
    ] {
        let seen_ids: Vec<&str> = ids(seen);
        let unique: HashSet<&str> = seen_ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen_ids.len(),
            "{reader}: an event was seen twice"
        );
        let missing = stored_ids.difference(&unique).count();
        let extra = unique.difference(&stored_ids).count();
        assert!(
            missing == 0 && extra == 0,
            "{reader}: {missing} stored events never seen (skipped), {extra} seen that were \
             not stored, of {} stored",
            stored.len()
        );
        let mut latest: HashMap<&str, i64> = HashMap::new();
        for w in seen.windows(2) {
            assert!(
                w[0].position < w[1].position,
                "{reader}: positions must increase"
            );
        }
        for e in seen.iter() {
            let last = latest.entry(e.event.actor_id.as_str()).or_insert(0);
            assert!(
                e.event.version > *last,
                "{reader}: actor {:?} version {} came after version {last}",
                e.event.actor_id,
                e.event.version
            );
            *last = e.event.version;
        }
    }
    let order = |seen: &[FeedEvent]| -> Vec<(Position, String)> {
        seen.iter()
            .map(|e| (e.position, e.event.id.clone()))
            .collect()
    };
    assert_eq!(
        order(&by_follow),
        order(&fresh),
        "the live order is the stored order"
    );
    assert_eq!(
        order(&by_pages),
        order(&fresh),
        "the paged order is the stored order"
    );
}

/// Collects a live stream until it has `expected` events (sent once the writers are done).
async fn collect_follow(
    mut stream: futures::stream::BoxStream<'static, Result<FeedEvent, FeedError>>,
    mut done: tokio::sync::watch::Receiver<Option<usize>>,
) -> Vec<FeedEvent> {
    let mut seen = Vec::new();
    loop {
        if let Some(expected) = *done.borrow() {
            if seen.len() >= expected {
                return seen;
            }
        }
        let next = tokio::select! {
            next = tokio::time::timeout(WAKE_LIMIT, stream.next()) => next,
            // The writers finished: check the count again.
            _ = done.changed() => continue,
        };
        match next {
            Ok(Some(Ok(e))) => seen.push(e),
            Ok(Some(Err(err))) => panic!("the live feed failed: {err}"),
            Ok(None) => panic!("the live feed ended"),
            Err(_) => {
                let expected = *done.borrow();
                panic!(
                    "the live feed gave nothing for {WAKE_LIMIT:?} after {} events (expected \
                     {expected:?} once writers are done): events were skipped or the \
                     reader was never woken",
                    seen.len()
                )
            }
        }
    }
}

/// Tails the feed with pages of 1 to 3 events and `wait_for_events`, until it has
/// `expected` events.
async fn collect_pages<S: EventFeed + ?Sized>(
    store: Arc<S>,
    mut done: tokio::sync::watch::Receiver<Option<usize>>,
) -> Vec<FeedEvent> {
    let mut seen: Vec<FeedEvent> = Vec::new();
    let mut after = Position::START;
    let mut round = 0;
    let mut idle_since: Option<tokio::time::Instant> = None;
    loop {
        if let Some(expected) = *done.borrow() {
            if seen.len() >= expected {
                return seen;
            }
        }
        round += 1;
        let page = store
            .read_feed(after, &FeedFilter::all(), 1 + round % 3)
            .await
            .expect("reading a page");
        after = page.next;
        if page.events.is_empty() {
            let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
            assert!(
                since.elapsed() < WAKE_LIMIT,
                "the paging reader found nothing new for {WAKE_LIMIT:?} after {} events \
                 (expected {:?}): events were skipped",
                seen.len(),
                *done.borrow()
            );
            tokio::select! {
                _ = tokio::time::timeout(WAKE_LIMIT, store.wait_for_events(after)) => {}
                _ = done.changed() => {}
            }
        } else {
            idle_since = None;
            seen.extend(page.events);
        }
    }
}
