//! Exactly-once projections: a batch's read-model rows and its checkpoint commit
//! together or not at all; reset empties both; checkpoints outlive the store; the sink
//! shares the file's write lock with the store's writer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    CheckpointStore, EventFeed, EventStore, FeedError, FeedEvent, FeedFilter, HandlerError,
    Position, ProjectionSink, SinkError,
};
use aether_sqlite::rusqlite::{params, Connection, Transaction};
use aether_sqlite::{SqliteProjection, SqliteStore};
use common::event;

/// A guard against hangs only.
const HANG: Duration = Duration::from_secs(60);

const NAME: &str = "event-counts";

/// Counts each actor's events in a table of the store's file; fails on the event at
/// `fail_at`, if set.
#[derive(Debug, Default)]
struct EventCounts {
    fail_at: Option<Position>,
    resets: usize,
}

impl SqliteProjection for EventCounts {
    fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
        if Some(event.position) == self.fail_at {
            return Err(format!("refusing the event at {}", event.position).into());
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS event_counts (actor_id TEXT PRIMARY KEY, n INTEGER NOT NULL)",
            [],
        )?;
        tx.execute(
            "INSERT INTO event_counts (actor_id, n) VALUES (?1, 1) \
             ON CONFLICT (actor_id) DO UPDATE SET n = n + 1",
            params![event.event.actor_id],
        )?;
        Ok(())
    }

    fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        self.resets += 1;
        tx.execute("DROP TABLE IF EXISTS event_counts", [])?;
        Ok(())
    }
}

/// The read model as another connection sees it: (actor, count), by actor.
fn counts(path: &std::path::Path) -> Vec<(String, i64)> {
    let conn = Connection::open(path).unwrap();
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'event_counts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if !exists {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare("SELECT actor_id, n FROM event_counts ORDER BY actor_id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A store with five events: Account|a 1..=3, Account|b 1..=2; and the feed of them.
async fn store_with_events(dir: &tempfile::TempDir) -> (SqliteStore, Vec<FeedEvent>) {
    let store = SqliteStore::open(dir.path().join("events.db"))
        .await
        .unwrap();
    store
        .save_events(&[
            event("Account|a", 1),
            event("Account|a", 2),
            event("Account|a", 3),
        ])
        .await
        .unwrap();
    store
        .save_events(&[event("Account|b", 1), event("Account|b", 2)])
        .await
        .unwrap();
    let page = store
        .read_feed(Position::START, &FeedFilter::all(), 100)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 5);
    (store, page.events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_leaves_neither_rows_nor_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = store_with_events(&dir).await;
    let mut sink = store.exactly_once(EventCounts {
        fail_at: Some(events[2].position),
        ..EventCounts::default()
    });
    let err = sink
        .commit(NAME, &events, events[4].position)
        .await
        .unwrap_err();
    match &err {
        SinkError::Handler { position, source } => {
            assert_eq!(*position, events[2].position);
            assert!(source.to_string().contains("refusing"), "{source}");
        }
        other => panic!("expected a handler error at the 3rd event, got {other:?}"),
    }
    // Events 1 and 2 were handled inside the transaction, and rolled back with it.
    assert_eq!(counts(store.path()), vec![]);
    assert_eq!(sink.checkpoint(NAME).await.unwrap(), None);
    assert_eq!(store.load_checkpoint(NAME).await.unwrap(), None);

    // The first two alone commit, rows and checkpoint together.
    sink.commit(NAME, &events[..2], events[1].position)
        .await
        .unwrap();
    assert_eq!(counts(store.path()), vec![("Account|a".to_owned(), 2)]);
    assert_eq!(
        sink.checkpoint(NAME).await.unwrap(),
        Some(events[1].position)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_rows_and_checkpoint_and_reset_empties_both() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = store_with_events(&dir).await;
    let mut sink = store.exactly_once(EventCounts::default());
    assert_eq!(sink.checkpoint(NAME).await.unwrap(), None);
    sink.commit(NAME, &events, events[4].position)
        .await
        .unwrap();
    assert_eq!(
        counts(store.path()),
        vec![("Account|a".to_owned(), 3), ("Account|b".to_owned(), 2)]
    );
    assert_eq!(
        sink.checkpoint(NAME).await.unwrap(),
        Some(events[4].position)
    );
    // The same row the store's CheckpointStore reads.
    assert_eq!(
        store.load_checkpoint(NAME).await.unwrap(),
        Some(events[4].position)
    );
    // Another projection's checkpoint is kept apart.
    assert_eq!(store.load_checkpoint("other").await.unwrap(), None);

    sink.reset(NAME).await.unwrap();
    assert_eq!(counts(store.path()), vec![]);
    assert_eq!(sink.checkpoint(NAME).await.unwrap(), None);
    assert_eq!(store.load_checkpoint(NAME).await.unwrap(), None);

    // An empty batch moves the checkpoint only; skip_to too.
    sink.commit(NAME, &[], events[0].position).await.unwrap();
    assert_eq!(
        sink.checkpoint(NAME).await.unwrap(),
        Some(events[0].position)
    );
    sink.skip_to(NAME, events[3].position).await.unwrap();
    assert_eq!(
        sink.checkpoint(NAME).await.unwrap(),
        Some(events[3].position)
    );
    assert_eq!(counts(store.path()), vec![]);
}

/// A projection whose reset fails: the checkpoint stays.
struct FailingReset;

impl SqliteProjection for FailingReset {
    fn handle(&mut self, tx: &Transaction<'_>, _: &FeedEvent) -> Result<(), HandlerError> {
        tx.execute("CREATE TABLE IF NOT EXISTS touched (x)", [])?;
        Ok(())
    }
    fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        tx.execute("DROP TABLE touched", [])?;
        Err("cannot reset".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reset_keeps_rows_and_checkpoint_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = store_with_events(&dir).await;
    let mut sink = store.exactly_once(FailingReset);
    sink.commit("p", &events, events[4].position).await.unwrap();
    match sink.reset("p").await {
        Err(SinkError::Reset { source }) => assert_eq!(source.to_string(), "cannot reset"),
        other => panic!("expected a reset error, got {other:?}"),
    }
    assert_eq!(
        sink.checkpoint("p").await.unwrap(),
        Some(events[4].position)
    );
    let conn = Connection::open(store.path()).unwrap();
    let table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'touched'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(table, 1, "the reset's DROP TABLE was rolled back");

    assert!(matches!(
        sink.commit("", &events, events[4].position).await,
        Err(SinkError::Store(FeedError::InvalidInput { .. }))
    ));
    assert!(matches!(
        sink.checkpoint("").await,
        Err(FeedError::InvalidInput { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_and_read_model_outlive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = store_with_events(&dir).await;
    let path = store.path().to_owned();
    let mut sink = store.exactly_once(EventCounts::default());
    sink.commit(NAME, &events[..3], events[2].position)
        .await
        .unwrap();
    drop(sink);
    store.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let mut sink = store.exactly_once(EventCounts::default());
    let resume = sink.checkpoint(NAME).await.unwrap();
    assert_eq!(resume, Some(events[2].position));
    let rest = store
        .read_feed(resume.unwrap(), &FeedFilter::all(), 100)
        .await
        .unwrap();
    assert_eq!(rest.events, events[3..].to_vec());
    sink.commit(NAME, &rest.events, rest.next).await.unwrap();
    assert_eq!(
        counts(&path),
        vec![("Account|a".to_owned(), 3), ("Account|b".to_owned(), 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_and_busy_writers_share_the_file() {
    const WRITERS: usize = 4;
    const EACH: i64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("Account|w{w}");
                for v in 1..=EACH {
                    store.save_event(&event(&id, v)).await.unwrap();
                }
            })
        })
        .collect();
    let total = WRITERS as u64 * EACH as u64;
    let projecting = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut sink = store.exactly_once(EventCounts::default());
            let mut after = Position::START;
            let mut batches = 0;
            while after.commit() < total {
                let page = store
                    .read_feed(after, &FeedFilter::all(), 50)
                    .await
                    .unwrap();
                if page.events.is_empty() {
                    store.wait_for_events(after).await.unwrap();
                    continue;
                }
                sink.commit(NAME, &page.events, page.next).await.unwrap();
                batches += 1;
                after = page.next;
            }
            batches
        })
    };
    for writer in writers {
        tokio::time::timeout(HANG, writer).await.unwrap().unwrap();
    }
    let batches = tokio::time::timeout(HANG, projecting)
        .await
        .unwrap()
        .unwrap();
    assert!(batches > 0);
    let counts = counts(store.path());
    assert_eq!(counts.len(), WRITERS);
    assert!(counts.iter().all(|(_, n)| *n == EACH), "{counts:?}");
    assert_eq!(
        store.load_checkpoint(NAME).await.unwrap(),
        Some(store.feed_head().await.unwrap())
    );
}
