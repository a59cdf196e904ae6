//! The projection runner with exactly-once SQLite projections of decoded events
//! (`SqliteProjection<Decoded<T>>`, the feed read with SQLite's lending `visit_feed`):
//! the same table as the owned projection, at the store's durability and at `Normal`;
//! a row whose data is not JSON stops the decoded projection with a handler error naming
//! the event (the owned one stops on the feed's serialization error), after the events
//! before it committed, and `skip_failed` goes on past it.
#![cfg(feature = "sqlite")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aether::feed::{CheckpointStore, EventFeed, FeedError, Position};
use aether::projection::{
    self, ProjectionError, ProjectionHandle, ProjectionOptions, ProjectionPhase,
};
use aether::sqlite::rusqlite::Connection;
use aether::sqlite::{SqliteStore, Synchronous};
use aether::{Event, EventStore};
#[path = "../aether-sqlite/tests/common/totals.rs"]
mod totals;

use serde_json::json;
use totals::{rows, DecodedTotals, OwnedTotals};

/// How long a projection may take to reach the head or fail: only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test if it takes longer than [`DEADLINE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {DEADLINE:?}"))
}

/// An event of `actor` at `version` whose payload has an amount derived from both.
fn movement(actor: &str, version: i64) -> Event {
    Event {
        id: format!("{actor}-{version}"),
        event_type: if version % 2 == 0 {
            "Withdrawn"
        } else {
            "Deposited"
        }
        .to_owned(),
        actor_id: actor.to_owned(),
        command_id: Some(format!("cmd-{actor}-{version}")),
        version,
        data: json!({ "amount": version * 10 + actor.len() as i64 }),
        timestamp: chrono::Utc::now(),
    }
}

/// What `table` must hold for these events: (actor, total, count), by actor.
fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<(String, i64, i64)> {
    let mut totals = std::collections::BTreeMap::<String, (i64, i64)>::new();
    for e in events {
        let row = totals.entry(e.actor_id.clone()).or_default();
        row.0 += e.data["amount"].as_i64().unwrap();
        row.1 += 1;
    }
    totals.into_iter().map(|(a, (t, n))| (a, t, n)).collect()
}

fn fast() -> ProjectionOptions {
    ProjectionOptions::new()
        .batch_size(8)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

/// Several actors, written by several saves; returns the events in save order.
async fn write(store: &SqliteStore, rounds: std::ops::Range<i64>) -> Vec<Event> {
    let mut saved = Vec::new();
    for round in rounds {
        for actor in ["Account|a", "Account|bb", "Order|ccc"] {
            let batch: Vec<Event> = (1..=3).map(|k| movement(actor, round * 3 + k)).collect();
            store.save_events(&batch).await.unwrap();
            saved.extend(batch);
        }
    }
    saved
}

/// Waits until `run` has handled the feed up to its head, then checks that `table` holds
/// `expected` and that the checkpoint, committed with the rows, is the head.
async fn caught_up<S>(
    store: &SqliteStore,
    run: &ProjectionHandle<S>,
    table: &str,
    expected: &[(String, i64, i64)],
) {
    within(run.name(), run.wait_for_head()).await.unwrap();
    let head = store.feed_head().await.unwrap();
    assert_eq!(
        rows(store.path(), table),
        expected,
        "{}: the fold of the feed, each event once",
        run.name()
    );
    assert_eq!(run.status().checkpoint, Some(head), "{}", run.name());
    assert_eq!(
        store.load_checkpoint(run.name()).await.unwrap(),
        Some(head),
        "{}: the checkpoint committed with the rows",
        run.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_decoded_projections_fill_the_table_of_the_owned_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let mut saved = write(&store, 0..10).await;
    let owned = projection::spawn(
        "owned",
        store.clone(),
        store.exactly_once(OwnedTotals {
            table: "owned_totals",
        }),
        fast(),
    );
    let decoded = projection::spawn(
        "decoded",
        store.clone(),
        store.exactly_once(DecodedTotals {
            table: "decoded_totals",
            fail_at: None,
        }),
        fast(),
    );
    let normal = projection::spawn(
        "decoded-normal",
        store.clone(),
        store
            .exactly_once(DecodedTotals {
                table: "decoded_normal",
                fail_at: None,
            })
            .synchronous(Synchronous::Normal),
        fast(),
    );
    let expected = fold(&saved);
    assert_eq!(expected.len(), 3);
    caught_up(&store, &owned, "owned_totals", &expected).await;
    caught_up(&store, &decoded, "decoded_totals", &expected).await;
    caught_up(&store, &normal, "decoded_normal", &expected).await;

    // Live events reach the decoded ones too.
    saved.extend(write(&store, 10..12).await);
    let expected = fold(&saved);
    caught_up(&store, &owned, "owned_totals", &expected).await;
    caught_up(&store, &decoded, "decoded_totals", &expected).await;
    caught_up(&store, &normal, "decoded_normal", &expected).await;
    assert_eq!(decoded.status().handled, saved.len() as u64);
    owned.stop().await;
    decoded.stop().await;
    normal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_data_is_not_json_stops_the_decoded_projection_naming_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let path = store.path().to_owned();
    let saved = write(&store, 0..4).await;
    // The 12th event of the feed: its data column is not JSON.
    let at = 11;
    let bad = &saved[at];
    let conn = Connection::open(&path).unwrap();
    let changed = conn
        .execute(
            "UPDATE events SET data = 'not json {' WHERE seq = ?1",
            [at as i64 + 1],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let position = Position::new(at as u64 + 1, 0);
    let before = Position::new(at as u64, 0);

    // The owned projection cannot read past it: a feed error at that position.
    let owned = projection::spawn(
        "owned",
        store.clone(),
        store.exactly_once(OwnedTotals {
            table: "owned_totals",
        }),
        fast(),
    );
    match within("owned fails", owned.wait_for_head()).await {
        Err(ProjectionError::Feed {
            source: FeedError::Serialization {
                position: named, ..
            },
            ..
        }) => assert_eq!(named, position),
        other => panic!("expected a serialization error at {position}, got {other:?}"),
    }

    // The decoded one reads it (the row is lent as text), fails to decode it and stops
    // there: a handler error naming the event, the events before it committed.
    let decoded = projection::spawn(
        "decoded",
        store.clone(),
        store.exactly_once(DecodedTotals {
            table: "decoded_totals",
            fail_at: None,
        }),
        fast(),
    );
    let err = within("decoded fails", decoded.wait_for_head())
        .await
        .unwrap_err();
    let ProjectionError::Handler {
        projection,
        position: failed_at,
        actor_id,
        version,
        event_type,
        event_id,
        source,
    } = &err
    else {
        panic!("expected a handler error, got {err:?}");
    };
    assert_eq!(
        (
            projection.as_str(),
            *failed_at,
            actor_id.as_str(),
            *version,
            event_type.as_str(),
            event_id.as_str()
        ),
        (
            "decoded",
            position,
            bad.actor_id.as_str(),
            bad.version,
            bad.event_type.as_str(),
            bad.id.as_str()
        ),
        "{err}"
    );
    assert!(
        source.to_string().contains("expected"),
        "a JSON syntax error: {source}"
    );
    let status = decoded.status();
    assert!(
        matches!(status.phase, ProjectionPhase::Failed(_)),
        "{status:?}"
    );
    assert_eq!(status.checkpoint, Some(before));
    assert_eq!(
        store.load_checkpoint("decoded").await.unwrap(),
        Some(before)
    );
    assert_eq!(
        rows(&path, "decoded_totals"),
        fold(&saved[..at]),
        "the events before it, each once"
    );

    // Skipped: both go on past it and handle everything after.
    let rest = fold(saved.iter().filter(|e| e.id != bad.id));
    assert_eq!(decoded.skip_failed().await.unwrap(), position);
    caught_up(&store, &decoded, "decoded_totals", &rest).await;
    assert_eq!(owned.skip_failed().await.unwrap(), position);
    caught_up(&store, &owned, "owned_totals", &rest).await;
    owned.stop().await;
    decoded.stop().await;
}
