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
