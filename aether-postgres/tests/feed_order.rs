//! The feed's hardest promise on PostgreSQL, forced deterministically: a transaction that
//! started first (lower transaction id) commits after a later one. A reader must not get
//! the later transaction's event before the earlier one has ended, and must never skip
//! the earlier one's event.

mod common;

use std::time::Duration;

use aether_core::{EventFeed, EventStore, FeedFilter, Position};
use serde_json::json;

/// A store whose reads wait only briefly for held-back events, so the "held back" reads
/// below return quickly.
async fn store() -> Option<common::TestStore> {
    let (builder, schema, app) = common::fresh_builder();
    match builder
        .feed_read_wait(Duration::from_millis(50))
        .connect()
        .await
    {
        Ok(store) => Some(common::TestStore { store, schema, app }),
        Err(err) => common::unreachable("connect", err),
    }
}

/// Opens transaction A on a raw session and inserts one event with the columns'
/// defaults (its `tx_id` and `seq`), leaving A open.
async fn open_transaction_a(test: &common::TestStore) -> tokio_postgres::Client {
    let a = common::raw_client().await;
    a.batch_execute(&format!(
        "BEGIN; INSERT INTO \"{}\".events \
         (actor_id, version, event_id, event_type, command_id, data, recorded_at, recorded_nanos) \
         VALUES ('Raw|a', 1, 'event-of-a', 'Noted', NULL, '{{}}', now(), 0)",
        test.schema
    ))
    .await
    .expect("transaction A inserts its event");
    a
}

/// B commits while A is open: the feed holds B back (without skipping past it), until A
/// ends; then it gives A's event and B's, in that order.
async fn out_of_order_commit(commit_a: bool) {
    let Some(test) = store().await else {
        return;
    };
    let feed = &test.store;
    let a = open_transaction_a(&test).await;

    // B: begins after A (a higher transaction id), commits first.
    feed.save_event(&common::event("Acc|b", 1, json!({ "b": 1 })))
        .await
        .expect("B appends through the store");

    let held = feed
        .read_feed(Position::START, &FeedFilter::all(), 10)
        .await
        .expect("reading while A is open");
    assert!(
        held.events.is_empty(),
        "B's event must be held back while the older transaction A is open, got {:?}",
        held.events
    );
    assert_eq!(held.next, Position::START, "nothing read, nothing passed");
    assert_eq!(
        feed.feed_head().await.expect("head"),
        Position::START,
        "the head is below the horizon too"
    );
    assert_eq!(
        feed.feed_lag(Position::START).await.expect("lag"),
        1,
        "the lag counts B's committed event, readable or not"
    );

    a.batch_execute(if commit_a { "COMMIT" } else { "ROLLBACK" })
        .await
        .expect("ending A");

    let page = feed
        .read_feed(held.next, &FeedFilter::all(), 10)
        .await
        .expect("reading after A ended");
    let ids: Vec<&str> = page.events.iter().map(|e| e.event.id.as_str()).collect();
    let expected: &[&str] = if commit_a {
        &["event-of-a", "Acc|b@1"]
    } else {
        &["Acc|b@1"]
    };
    assert_eq!(
        ids, expected,
        "after A ended the reader gets A's event (if committed) before B's, none skipped"
    );
    assert!(page.events.iter().all(|e| e.position > held.next));
    assert_eq!(page.next, page.events.last().expect("events").position);
    assert!(feed
        .read_feed(page.next, &FeedFilter::all(), 10)
        .await
        .expect("reading on")
        .events
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_commit_waits_for_an_older_open_transaction_that_commits() {
    out_of_order_commit(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_commit_waits_for_an_older_open_transaction_that_aborts() {
    out_of_order_commit(false).await;
}

/// A read that starts while an older transaction holds an event back waits (up to the
/// read wait) for it to end, then returns the held-back event: an event whose save has
/// returned is in the next read when blocking transactions are short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_waits_for_a_short_older_transaction() {
    let (builder, schema, app) = common::fresh_builder();
    let store = match builder
        .feed_read_wait(Duration::from_secs(20))
        .connect()
        .await
    {
        Ok(store) => common::TestStore { store, schema, app },
        Err(err) => return common::unreachable("connect", err).unwrap_or(()),
    };
    let a = open_transaction_a(&store).await;
    store
        .save_event(&common::event("Acc|b", 1, json!({})))
        .await
        .expect("B appends");
    let reader = {
        let feed = store.store.clone();
        tokio::spawn(async move {
            feed.read_feed(Position::START, &FeedFilter::all(), 10)
                .await
                .expect("reading")
        })
    };
    // The reader is now (or soon) waiting for A; end A.
    a.batch_execute("COMMIT").await.expect("committing A");
    let page = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the read returns once A has ended")
        .expect("the reader task");
    let ids: Vec<&str> = page.events.iter().map(|e| e.event.id.as_str()).collect();
    // The read may have started before or after A's commit: either way it returns both.
    assert_eq!(ids, ["event-of-a", "Acc|b@1"]);
}
