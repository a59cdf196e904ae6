//! The exactly-once sink: a batch's read-model writes and its checkpoint commit together
//! or not at all; reset empties both.

mod common;

use aether_core::{
    async_trait, CheckpointStore, Decoded, EventFeed, EventStore, FeedEvent, FeedFilter, FeedItem,
    HandlerError, Position, ProjectionSink, SinkError,
};
use aether_postgres::driver::Transaction;
use aether_postgres::PostgresProjection;
use serde_json::json;

/// Counts events per actor in `<schema>.counts`; fails on the `fail_on`-th event it
/// handles (1-based), if set.
struct Counts {
    table: String,
    handled: usize,
    fail_on: Option<usize>,
}

#[async_trait]
impl PostgresProjection for Counts {
    async fn handle(
        &mut self,
        tx: &Transaction<'_>,
        event: &FeedEvent,
    ) -> Result<(), HandlerError> {
        self.handled += 1;
        tx.execute(
            &format!(
                "INSERT INTO {} (actor_id, n) VALUES ($1, 1) \
                 ON CONFLICT (actor_id) DO UPDATE SET n = {}.n + 1",
                self.table, self.table
            ),
            &[&event.event.actor_id],
        )
        .await?;
        if Some(self.handled) == self.fail_on {
            return Err(format!("refusing event #{}", self.handled).into());
        }
        Ok(())
    }

    async fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        tx.execute(&format!("DELETE FROM {}", self.table), &[])
            .await?;
        Ok(())
    }
}

async fn counts(client: &tokio_postgres::Client, table: &str) -> Vec<(String, i64)> {
    client
        .query(
            &format!("SELECT actor_id, n FROM {table} ORDER BY actor_id"),
            &[],
        )
        .await
        .expect("reading the read model")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Creates the read model's table `"<schema>".counts`: its name, and a client to read it.
async fn counts_table(schema: &str) -> (String, tokio_postgres::Client) {
    let table = format!("\"{schema}\".counts");
    let admin = common::raw_client().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE {table} (actor_id text PRIMARY KEY, n bigint NOT NULL)"
        ))
        .await
        .expect("the read model's table");
    (table, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_commit_with_their_checkpoint_or_not_at_all() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let (table, admin) = counts_table(&test.schema).await;
    for (actor, version) in [("Acc|a", 1), ("Acc|b", 1), ("Acc|a", 2), ("Acc|c", 1)] {
        test.save_event(&common::event(actor, version, json!({})))
            .await
            .expect("save");
    }
    let events = test
        .read_feed(Position::START, &FeedFilter::all(), 100)
        .await
        .expect("feed")
        .events;
    assert_eq!(events.len(), 4);
    let to = events[3].position;

    // The handler fails on the 3rd event: nothing of the batch stays.
    let mut failing = test.store.exactly_once(Counts {
        table: table.clone(),
        handled: 0,
        fail_on: Some(3),
    });
    match failing.commit("counts", &events, to).await {
        Err(SinkError::Handler { position, source }) => {
            assert_eq!(position, events[2].position, "the failed event's position");
            assert!(source.to_string().contains("#3"), "{source}");
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert_eq!(counts(&admin, &table).await, [], "no read-model rows");
    assert_eq!(
        failing.checkpoint("counts").await.expect("checkpoint"),
        None
    );
    assert_eq!(test.load_checkpoint("counts").await.expect("load"), None);

    // The same batch, handled without error: both commit.
    let mut sink = test.store.exactly_once(Counts {
        table: table.clone(),
        handled: 0,
        fail_on: None,
    });
    sink.commit("counts", &events, to).await.expect("commit");
    assert_eq!(
        counts(&admin, &table).await,
        [
            ("Acc|a".to_owned(), 2),
            ("Acc|b".to_owned(), 1),
            ("Acc|c".to_owned(), 1)
        ]
    );
    assert_eq!(
        sink.checkpoint("counts").await.expect("checkpoint"),
        Some(to)
    );
    assert_eq!(
        test.load_checkpoint("counts").await.expect("load"),
        Some(to)
    );
    assert_eq!(sink.projection().handled, 4);

    // An empty batch moves the checkpoint; skip_to too.
    let further = Position::new(to.commit(), to.index() + 5);
    sink.commit("counts", &[], further)
        .await
        .expect("empty commit");
    assert_eq!(
        sink.checkpoint("counts").await.expect("checkpoint"),
        Some(further)
    );
    sink.skip_to("counts", Position::new(u64::MAX, u64::MAX))
        .await
        .expect("skip");
    assert_eq!(
        sink.checkpoint("counts").await.expect("checkpoint"),
        Some(Position::new(u64::MAX, u64::MAX))
    );

    // Reset empties the read model and forgets the checkpoint, together.
    sink.reset("counts").await.expect("reset");
    assert_eq!(counts(&admin, &table).await, []);
    assert_eq!(sink.checkpoint("counts").await.expect("checkpoint"), None);

    // Bad names are refused before anything runs.
    assert!(matches!(
        sink.commit("", &events, to).await,
        Err(SinkError::Store(
            aether_core::FeedError::InvalidInput { .. }
        ))
    ));
    assert!(sink.checkpoint("a\0b").await.is_err());
}

/// A reset whose handler fails keeps the read model and the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reset_changes_nothing() {
    struct BadReset;
    #[async_trait]
    impl PostgresProjection for BadReset {
        async fn handle(&mut self, _: &Transaction<'_>, _: &FeedEvent) -> Result<(), HandlerError> {
            Ok(())
        }
        async fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
            tx.execute("SELECT 1", &[]).await?;
            Err("cannot reset".into())
        }
    }
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let mut sink = test.store.exactly_once(BadReset);
    sink.skip_to("bad", Position::new(4, 2))
        .await
        .expect("skip");
    assert!(matches!(
        sink.reset("bad").await,
        Err(SinkError::Reset { .. })
    ));
    assert_eq!(
        sink.checkpoint("bad").await.expect("checkpoint"),
        Some(Position::new(4, 2))
    );
}

/// What [`DecodedCounts`] takes of an event: its actor, decoded from the lent event.
#[derive(Debug, Clone)]
struct Actor(String);

impl aether_core::FeedDecode for Actor {
    fn decode(event: &aether_core::EventRef<'_>) -> Result<Self, HandlerError> {
        Ok(Actor(event.actor_id.to_owned()))
    }
}

/// [`Counts`] fed decoded items; fails on the item at `fail_at`.
struct DecodedCounts {
    table: String,
    fail_at: Option<Position>,
}

#[async_trait]
impl PostgresProjection<Decoded<Actor>> for DecodedCounts {
    async fn handle(
        &mut self,
        tx: &Transaction<'_>,
        item: &Decoded<Actor>,
    ) -> Result<(), HandlerError> {
        tx.execute(
            &format!(
                "INSERT INTO {} (actor_id, n) VALUES ($1, 1) \
                 ON CONFLICT (actor_id) DO UPDATE SET n = {}.n + 1",
                self.table, self.table
            ),
            &[&item.event.0],
        )
        .await?;
        if Some(item.position) == self.fail_at {
            return Err(format!("refusing the item at {}", item.position).into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_batches_commit_with_their_checkpoint_or_not_at_all() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let (table, admin) = counts_table(&test.schema).await;
    for (actor, version) in [("Acc|a", 1), ("Acc|b", 1), ("Acc|a", 2)] {
        test.save_event(&common::event(actor, version, json!({})))
            .await
            .expect("save");
    }
    let page = Decoded::<Actor>::read_items(&test, Position::START, &FeedFilter::all(), 100, &[])
        .await
        .expect("decoded items");
    assert_eq!(page.items.len(), 3);
    let to = page.next;

    // A failing item rolls back the batch and its checkpoint.
    let mut failing = test.store.exactly_once(DecodedCounts {
        table: table.clone(),
        fail_at: Some(page.items[1].position),
    });
    match failing.commit("decoded", &page.items, to).await {
        Err(SinkError::Handler { position, .. }) => assert_eq!(position, page.items[1].position),
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert_eq!(counts(&admin, &table).await, [], "no read-model rows");
    assert_eq!(test.load_checkpoint("decoded").await.expect("load"), None);

    // Then the whole batch, and its checkpoint, commit together.
    let mut sink = test.store.exactly_once(DecodedCounts {
        table: table.clone(),
        fail_at: None,
    });
    sink.commit("decoded", &page.items, to)
        .await
        .expect("commit");
    assert_eq!(
        counts(&admin, &table).await,
        [("Acc|a".to_owned(), 2), ("Acc|b".to_owned(), 1)]
    );
    assert_eq!(
        test.load_checkpoint("decoded").await.expect("load"),
        Some(to)
    );
}
