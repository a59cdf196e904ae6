//! Edges of the NATS store beyond the conformance suite: batches larger than the
//! server's max payload, long histories stored one event per message.

mod common;

use std::time::{Duration, Instant};

use aether_core::testkit::cases::event;
use aether_core::{Event, EventStore, StoreError};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_max_payload_is_refused_whole() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let actor = "big";
    let max_payload = store.client().server_info().max_payload;
    let filler = "x".repeat(4096);
    let count = (max_payload / filler.len() + 2) as i64;
    let batch: Vec<Event> = (1..=count)
        .map(|v| {
            let mut e = event(actor, v);
            e.data = json!({ "filler": filler });
            e
        })
        .collect();
    match store.save_events(&batch).await {
        Err(StoreError::InvalidInput {
            actor_id, reason, ..
        }) => {
            assert_eq!(actor_id, actor);
            assert!(reason.contains("max_payload"), "{reason}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert_eq!(store.get_latest_version(actor).await.unwrap(), 0);
    store.delete_namespace().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_of_single_event_messages_reads_from_the_middle() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let actor = "one.by.one";
    // Other actors' messages interleaved, so the consumer's filter matters.
    for v in 1..=2_000 {
        store.save_event(&event(actor, v)).await.unwrap();
        if v % 10 == 0 {
            store.save_event(&event("noise", v / 10)).await.unwrap();
        }
    }
    let started = Instant::now();
    let tail = store.get_events(actor, 1_001).await.unwrap();
    let took = started.elapsed();
    eprintln!("get_events from the middle of 2,000 one-event messages: {took:?}");
    assert_eq!(
        tail.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1_001..=2_000).collect::<Vec<_>>()
    );
    assert!(took < Duration::from_secs(5), "read took {took:?}");
    assert_eq!(store.get_events(actor, 0).await.unwrap().len(), 2_000);
    assert_eq!(store.get_events(actor, 2_000).await.unwrap().len(), 1);
    store.delete_namespace().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_from_every_version_matches_the_history() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let actor = "searched";
    // Batches of 1 to 3 events with gaps between versions, other actors' messages in
    // between, so reads from the middle exercise the start-sequence search.
    let mut history: Vec<Event> = Vec::new();
    let mut version = 0i64;
    for batch in 0..100u64 {
        let size = 1 + (batch % 3) as i64;
        let events: Vec<Event> = (0..size)
            .map(|i| event(actor, version + 1 + i * 2))
            .collect();
        version = events[events.len() - 1].version;
        store.save_events(&events).await.unwrap();
        history.extend(events);
        store
            .save_event(&event("noise", batch as i64 + 1))
            .await
            .unwrap();
    }
    for from in -1..=version + 2 {
        let expected: Vec<i64> = history
            .iter()
            .map(|e| e.version)
            .filter(|&v| v >= from)
            .collect();
        let read = store.get_events(actor, from).await.unwrap();
        assert_eq!(
            read.iter().map(|e| e.version).collect::<Vec<_>>(),
            expected,
            "from {from}"
        );
    }
    store.delete_namespace().await.unwrap();
}
