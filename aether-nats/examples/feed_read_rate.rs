//! How fast `NatsStore`'s feed reads: a namespace filled with N single-event messages
//! (default 1,000,000) is read from the start in pages of 1,000, unfiltered, then with an
//! actor-type filter that keeps a tenth, and its lag from the start is counted. Beside
//! it, the raw limit: one plain async-nats pull consumer streaming the same messages,
//! without decoding them.
//!
//! ```text
//! cargo run --release -p aether-nats --example feed_read_rate [-- <events> [<nats url>]]
//! ```
//!
//! The events are published raw, pipelined, in the store's own message format (one event
//! per message with the `Aether-*` headers, as a `save_event` writes it), on 1,000 actors
//! of ten actor types; filling is not what is measured. Runs in a fresh namespace,
//! deleted at the end.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aether_core::{Event, EventFeed, FeedFilter, Position};
use aether_nats::NatsStore;
use async_nats::jetstream;
use futures::StreamExt;
use serde_json::json;

const ACTORS: usize = 1_000;
const PAGE: usize = 1_000;

fn event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("0190a1b2-c3d4-7e5f-8a9b-{version:012}"),
        event_type: "Deposited".into(),
        actor_id: actor.into(),
        command_id: Some(format!("cmd-{version}")),
        version,
        data: json!({ "amount": 100, "currency": "EUR", "note": "benchmark event" }),
        timestamp: chrono::Utc::now(),
    }
}

async fn read_all(store: &NatsStore, filter: &FeedFilter) -> (usize, f64) {
    let started = Instant::now();
    let (mut after, mut count) = (Position::START, 0);
    loop {
        let page = store.read_feed(after, filter, PAGE).await.expect("read");
        count += page.events.len();
        if page.events.is_empty() && page.next == after {
            return (count, started.elapsed().as_secs_f64());
        }
        after = page.next;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let store = NatsStore::builder(url)
        .namespace(format!("feed-rate-{secs}"))
        .connect()
        .await?;
    let js = jetstream::new(store.client().clone());

    let started = Instant::now();
    let mut acks = Vec::with_capacity(4096);
    for i in 0..total {
        let actor = format!("Type{}|{}", i % 10, i % ACTORS);
        let version = (i / ACTORS) as i64 + 1;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Aether-First-Version", version.to_string());
        headers.insert("Aether-Last-Version", version.to_string());
        headers.insert("Aether-Event-Count", "1");
        let payload = serde_json::to_vec(&event(&actor, version))?;
        let subject = store.layout().event_subject(&actor).expect("subject");
        acks.push(
            js.publish_with_headers(subject, headers, payload.into())
                .await?,
        );
        if acks.len() == 4096 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks.drain(..) {
        ack.await?;
    }
    println!(
        "filled {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let stream = js.get_stream(store.layout().events_stream()).await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    for _ in 0..total {
        messages.next().await.expect("a message")?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "raw pull consumer (no decoding): {total} messages in {secs:.2} s = {:.0} messages/s",
        total as f64 / secs
    );
    drop(messages);

    let (count, secs) = read_all(&store, &FeedFilter::all()).await;
    assert_eq!(count, total);
    println!(
        "read_feed, all, pages of {PAGE}: {count} events in {secs:.2} s = {:.0} events/s",
        count as f64 / secs
    );
    let (count, secs) = read_all(&store, &FeedFilter::all().actor_type("Type3")).await;
    assert_eq!(count, total / 10);
    println!(
        "read_feed, actor type filter keeping 1/10: {count} events in {secs:.2} s = {:.0} \
         messages scanned/s",
        total as f64 / secs
    );
    let started = Instant::now();
    let lag = store.feed_lag(Position::START).await?;
    assert_eq!(lag, total as u64);
    println!(
        "feed_lag from the start: {lag} in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    store.delete_namespace().await?;
    Ok(())
}
