//! The NATS feed beyond the conformance suite: the position scheme (stream sequence,
//! index in the batch), namespaces made before checkpoints existed, messages that are
//! not aether events, a lost read consumer, wake-ups from another connection.

mod common;

use std::time::{Duration, Instant};

use aether_core::testkit::cases::event;
use aether_core::{CheckpointStore, EventFeed, EventStore, FeedError, FeedFilter, Position};
use aether_nats::NatsStore;
use futures::StreamExt;

/// A second handle (its own connection) on `namespace`, with a feed poll interval.
async fn other_handle(namespace: &str, poll: Duration, request_timeout: Duration) -> NatsStore {
    NatsStore::builder(common::nats_url())
        .namespace(namespace)
        .feed_poll_interval(poll)
        .request_timeout(request_timeout)
        .connect()
        .await
        .expect("a second handle on a reachable server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_stream_sequence_and_index_in_the_batch() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let batch: Vec<_> = (1..=3).map(|v| event("Account|b", v)).collect();
    store.save_events(&batch).await.unwrap();
    store.save_event(&event("Order|x", 1)).await.unwrap();

    let mut after = Position::START;
    let mut positions = Vec::new();
    loop {
        let page = store.read_feed(after, &FeedFilter::all(), 1).await.unwrap();
        if page.events.is_empty() {
            break;
        }
        positions.push(page.events[0].position);
        after = page.next;
    }
    let expected = [(1, 0), (1, 1), (1, 2), (2, 0)].map(|(s, i)| Position::new(s, i));
    assert_eq!(
        positions, expected,
        "one message per batch, one index per event"
    );

    // After the middle of a batch: the rest of it, then the later messages.
    let rest = store
        .read_feed(Position::new(1, 1), &FeedFilter::all(), 10)
        .await
        .unwrap();
    let rest: Vec<_> = rest.events.iter().map(|e| e.position).collect();
    assert_eq!(rest, [Position::new(1, 2), Position::new(2, 0)]);

    assert_eq!(store.feed_head().await.unwrap(), Position::new(2, 0));
    assert_eq!(store.feed_lag(Position::START).await.unwrap(), 4);
    assert_eq!(store.feed_lag(Position::new(1, 0)).await.unwrap(), 3);
    assert_eq!(store.feed_lag(Position::new(1, 2)).await.unwrap(), 1);

    // A filter that keeps nothing still moves the reader past what it looked at.
    let none = store
        .read_feed(Position::START, &FeedFilter::all().actor_type("Nobody"), 10)
        .await
        .unwrap();
    assert!(none.events.is_empty());
    assert_eq!(none.next, Position::new(2, 0));
    let orders = store
        .read_feed(Position::START, &FeedFilter::all().actor_type("Order"), 10)
        .await
        .unwrap();
    assert_eq!(orders.events.len(), 1);
    assert_eq!(orders.events[0].event.actor_id, "Order|x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_made_without_a_checkpoint_bucket_opens_and_feeds() {
    let Some(old) = common::fresh_store().await else {
        return;
    };
    let js = async_nats::jetstream::new(old.client().clone());
    let checkpoint_stream = format!("KV_{}", old.layout().checkpoint_bucket());
    old.save_event(&event("Account|1", 1)).await.unwrap();
    assert!(
        js.get_stream(&checkpoint_stream).await.is_err(),
        "connecting and saving make no checkpoint bucket: the namespace is as the \
         previous release left it"
    );

    let store = other_handle(
        old.namespace(),
        Duration::from_millis(100),
        Duration::from_secs(5),
    )
    .await;
    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), None);
    store.save_checkpoint("balances", page.next).await.unwrap();
    assert_eq!(
        old.load_checkpoint("balances").await.unwrap(),
        Some(page.next),
        "the bucket made on first use is shared by every handle"
    );
    assert!(js.get_stream(&checkpoint_stream).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_are_not_aether_events_are_serialization_errors() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let js = async_nats::jetstream::new(store.client().clone());
    store.save_event(&event("Account|good", 1)).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Aether-First-Version", "7");
    let subject = store.layout().event_subject("Account|bad").unwrap();
    js.publish_with_headers(subject, headers, "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    // A subject whose token no actor id encodes to ("_va" is no escape).
    let foreign = format!("aether.{}.events.not_valid", store.namespace());
    let payload = serde_json::to_vec(&event("Order|1", 1)).unwrap();
    js.publish(foreign, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();

    // The good event comes first; the read stops before the bad one.
    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.next, Position::new(1, 0));
    match store.read_feed(page.next, &FeedFilter::all(), 10).await {
        Err(FeedError::Serialization {
            position,
            actor_id,
            version,
            ..
        }) => {
            assert_eq!(position, Position::new(2, 0));
            assert_eq!(actor_id, "Account|bad");
            assert_eq!(version, 7);
        }
        other => panic!("expected a serialization error at 2:0, got {other:?}"),
    }
    // A reader of other actor types skips the bad Account message unread, and fails on
    // the message that is not an aether event.
    match store
        .read_feed(Position::START, &FeedFilter::all().actor_type("Order"), 10)
        .await
    {
        Err(FeedError::Serialization {
            position, reason, ..
        }) => {
            assert_eq!(position, Position::new(3, 0));
            assert!(reason.contains("not an aether event"), "{reason}");
        }
        other => panic!("expected a serialization error at 3:0, got {other:?}"),
    }
    let err = store.feed_lag(Position::START).await.unwrap_err();
    assert!(matches!(err, FeedError::Serialization { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_whose_consumer_the_server_lost_reads_on() {
    let Some(first) = common::fresh_store().await else {
        return;
    };
    let store = other_handle(
        first.namespace(),
        Duration::from_millis(100),
        Duration::from_secs(1),
    )
    .await;
    for v in 1..=3 {
        store.save_event(&event("Account|1", v)).await.unwrap();
    }
    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 1)
        .await
        .unwrap();
    assert_eq!(page.events[0].event.version, 1);

    // The consumer kept for the next read goes (as after a server restart).
    let js = async_nats::jetstream::new(store.client().clone());
    let stream = js.get_stream(store.layout().events_stream()).await.unwrap();
    let names: Vec<String> = stream
        .consumer_names()
        .map(|name| name.unwrap())
        .collect()
        .await;
    assert!(!names.is_empty(), "the read kept a consumer");
    for name in names {
        stream.delete_consumer(&name).await.unwrap();
    }

    let rest = store
        .read_feed(page.next, &FeedFilter::all(), 10)
        .await
        .expect("a lost consumer is replaced");
    let versions: Vec<i64> = rest.events.iter().map(|e| e.event.version).collect();
    assert_eq!(versions, [2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_reader_is_woken_by_a_save_on_another_connection() {
    let Some(writer) = common::fresh_store().await else {
        return;
    };
    // A poll interval far above the time limit: only a wake-up can end the wait in time.
    let reader = other_handle(
        writer.namespace(),
        Duration::from_secs(120),
        Duration::from_secs(5),
    )
    .await;
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        reader.wait_for_events(Position::START).await.unwrap();
        started.elapsed()
    });
    writer.save_event(&event("Account|1", 1)).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the reader on another connection was not woken")
        .unwrap();
    assert!(waited < Duration::from_secs(20), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_with_nothing_new_returns_after_the_poll_interval() {
    let Some(first) = common::fresh_store().await else {
        return;
    };
    let poll = Duration::from_millis(300);
    let store = other_handle(first.namespace(), poll, Duration::from_secs(5)).await;
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(20),
        store.wait_for_events(Position::START),
    )
    .await
    .expect("a wait returns after the poll interval")
    .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= poll - Duration::from_millis(50),
        "returned after {waited:?}, before the poll interval of {poll:?}, with nothing new"
    );
}
