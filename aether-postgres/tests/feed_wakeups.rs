//! Wake-ups across processes: an append of one store wakes a reader of another store on
//! the same schema through the feed's `NOTIFY`, sent after the append's commit (not inside
//! its transaction), long before the reader's poll interval.

mod common;

use std::time::{Duration, Instant};

use aether_core::{EventFeed, EventStore, FeedFilter, Position};
use aether_postgres::PostgresStore;
use serde_json::json;

/// The reader's poll interval: far longer than a notification takes.
const POLL: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_another_store_wakes_a_waiting_reader() {
    let Some(writer) = common::fresh_store().await else {
        return;
    };
    let reader = PostgresStore::builder(common::url())
        .schema(writer.schema.clone())
        .application_name(writer.app.clone())
        .feed_poll_interval(POLL)
        .connect()
        .await
        .expect("a second store on a reachable server");

    // The first wait starts the reader's listener; let it subscribe, then wait for real.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        reader.wait_for_events(Position::START),
    )
    .await;
    for round in 1..=3_i64 {
        let head = reader.feed_head().await.expect("head");
        let waiting = tokio::spawn({
            let reader = reader.clone();
            async move {
                let started = Instant::now();
                reader.wait_for_events(head).await.expect("waiting");
                started.elapsed()
            }
        });
        // Let the reader find nothing and start waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        writer
            .store
            .save_event(&common::event("Acc|w", round, json!({ "round": round })))
            .await
            .expect("append");
        let waited = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the notification wakes the reader well before its poll interval")
            .expect("the waiting task");
        assert!(waited < POLL / 2, "round {round}: woke after {waited:?}");
        let page = reader
            .read_feed(head, &FeedFilter::all(), 10)
            .await
            .expect("reading");
        assert_eq!(page.events.len(), 1, "round {round}: the appended event");
        assert_eq!(page.events[0].event.version, round);
    }
}
