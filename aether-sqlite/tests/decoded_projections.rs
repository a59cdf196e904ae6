//! Exactly-once projections of decoded events (`SqliteProjection<Decoded<T>>`) fill the
//! table the owned projection fills, at the store's durability and at `Normal`; SQLite's
//! lending read (`visit_feed`) lends rows as stored, one whose data is not JSON included,
//! and the decoding of that one fails naming the event.

mod common;

use std::any::Any;
use std::ops::ControlFlow;

use aether_core::{
    CheckpointStore, Decoded, Event, EventData, EventFeed, EventIdentity, EventRef, EventStore,
    FeedError, FeedEvent, FeedFilter, FeedItem, FeedVisitor, Position, ProjectionSink, SinkError,
};
use aether_sqlite::rusqlite::Connection;
use aether_sqlite::{SqliteProjection, SqliteProjectionSink, SqliteStore, Synchronous};
use common::totals::{rows, DecodedTotals, Movement, OwnedTotals};
use common::TempStore;
use serde_json::json;

/// An event of `actor` at `version` whose payload has an amount derived from both.
fn movement(actor: &str, version: i64) -> Event {
    let mut e = common::event(actor, version);
    e.data = json!({ "amount": version * 10 + actor.len() as i64, "memo": "é \"q\"" });
    e.command_id = Some(format!("cmd-{actor}-{version}"));
    e
}

/// Runs `sink` to the head of the feed as the runner does, a page of `E` (read with
/// [`FeedItem::read_items`]: `read_feed` for owned events, `visit_feed` for decoded
/// ones) per commit. Returns the number of batches.
async fn project<E, P>(
    store: &SqliteStore,
    sink: &mut SqliteProjectionSink<P>,
    name: &str,
    limit: usize,
) -> usize
where
    E: FeedItem + Clone,
    P: SqliteProjection<E>,
{
    let mut after = ProjectionSink::<E>::checkpoint(sink, name)
        .await
        .unwrap()
        .unwrap_or(Position::START);
    let mut batches = 0;
    loop {
        let page = E::read_items(store, after, &FeedFilter::all(), limit, &[])
            .await
            .unwrap();
        if let Some((identity, err)) = &page.failed {
            panic!("decoding {identity:?}: {err}");
        }
        if page.items.is_empty() && page.next == after {
            return batches;
        }
        ProjectionSink::<E>::commit(sink, name, &page.items, page.next)
            .await
            .unwrap();
        batches += 1;
        after = page.next;
    }
}

/// Several actors, written by several saves.
async fn store_with_movements() -> TempStore {
    let store = TempStore::new().await;
    for round in 0..5 {
        for actor in ["Account|a", "Account|bb", "Order|ccc"] {
            let batch: Vec<Event> = (1..=4).map(|k| movement(actor, round * 4 + k)).collect();
            store.store.save_events(&batch).await.unwrap();
        }
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoded_sink_fills_the_table_the_owned_one_fills() {
    let store = store_with_movements().await;
    let (sqlite, path) = (&store.store, store.store.path());
    let mut owned = sqlite.exactly_once(OwnedTotals {
        table: "owned_totals",
    });
    let batches = project::<FeedEvent, _>(sqlite, &mut owned, "owned", 7).await;
    assert!(batches > 1, "several batches");
    let expected = rows(path, "owned_totals");
    // The owned table is the fold of the feed.
    let feed = sqlite
        .read_feed(Position::START, &FeedFilter::all(), 1_000)
        .await
        .unwrap();
    assert_eq!(feed.events.len(), 60);
    for (actor, total, n) in &expected {
        let mine: Vec<&FeedEvent> = feed
            .events
            .iter()
            .filter(|e| &e.event.actor_id == actor)
            .collect();
        let sum: i64 = mine
            .iter()
            .map(|e| e.event.data["amount"].as_i64().unwrap())
            .sum();
        assert_eq!((*total, *n), (sum, mine.len() as i64), "{actor}");
    }
    assert_eq!(expected.len(), 3);
    let head = sqlite.feed_head().await.unwrap();

    for (table, name, level) in [
        ("decoded_totals", "decoded", None),
        (
            "decoded_normal",
            "decoded-normal",
            Some(Synchronous::Normal),
        ),
    ] {
        let mut sink = sqlite.exactly_once(DecodedTotals {
            table,
            fail_at: None,
        });
        if let Some(level) = level {
            sink = sink.synchronous(level);
        }
        project::<Decoded<Movement>, _>(sqlite, &mut sink, name, 7).await;
        assert_eq!(
            rows(path, table),
            expected,
            "{name}: the owned projection's rows"
        );
        assert_eq!(
            ProjectionSink::<Decoded<Movement>>::checkpoint(&mut sink, name)
                .await
                .unwrap(),
            Some(head),
            "{name}: at the head"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoded_sink_at_normal_durability_still_commits_a_batch_and_its_checkpoint_together() {
    let store = store_with_movements().await;
    let (sqlite, path) = (&store.store, store.store.path());
    let page = Decoded::<Movement>::read_items(sqlite, Position::START, &FeedFilter::all(), 6, &[])
        .await
        .unwrap();
    assert_eq!(page.items.len(), 6);
    let items = page.items;
    let mut sink = sqlite
        .exactly_once(DecodedTotals {
            table: "normal",
            fail_at: Some(items[4].position),
        })
        .synchronous(Synchronous::Normal);
    match sink.commit("normal", &items[..], items[5].position).await {
        Err(SinkError::Handler { position, source }) => {
            assert_eq!(position, items[4].position);
            assert!(source.to_string().contains("refusing"), "{source}");
        }
        other => panic!("expected a handler error at the 5th event, got {other:?}"),
    }
    // The four handled before it rolled back with the batch.
    assert_eq!(rows(path, "normal"), vec![]);
    assert_eq!(
        ProjectionSink::<Decoded<Movement>>::checkpoint(&mut sink, "normal")
            .await
            .unwrap(),
        None
    );
    // The first four alone commit, rows and checkpoint together; and again after the
    // level is set on a sink in use.
    sink.commit("normal", &items[..4], items[3].position)
        .await
        .unwrap();
    let sink = sink.synchronous(Synchronous::Full);
    let mut sink = sink.synchronous(Synchronous::Normal);
    sink.commit("normal", &items[5..], items[5].position)
        .await
        .unwrap();
    let n: i64 = rows(path, "normal").iter().map(|r| r.2).sum();
    assert_eq!(n, 5, "every event but the refused one");
    assert_eq!(
        sqlite.load_checkpoint("normal").await.unwrap(),
        Some(items[5].position)
    );
}

/// Keeps what it is lent: who each event is, and its payload as lent (`Ok`: JSON text).
#[derive(Default)]
struct Lent(Vec<(EventIdentity, Result<String, serde_json::Value>)>);

impl FeedVisitor for Lent {
    fn visit(&mut self, position: Position, event: &EventRef<'_>) -> ControlFlow<()> {
        let data = match event.data {
            EventData::Json(text) => Ok(text.to_owned()),
            EventData::Value(value) => Err(value.clone()),
        };
        self.0.push((EventIdentity::of(position, event), data));
        ControlFlow::Continue(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_data_is_not_json_is_lent_and_its_decoding_fails_naming_it() {
    let store = TempStore::new().await;
    let sqlite = &store.store;
    let events = [
        movement("Account|a", 1),
        movement("Account|bad", 1),
        movement("Account|a", 2),
        movement("Account|a", 3),
    ];
    for e in &events {
        sqlite.save_event(e).await.unwrap();
    }
    let conn = Connection::open(sqlite.path()).unwrap();
    conn.execute("UPDATE events SET data = 'not json {' WHERE seq = 2", [])
        .unwrap();
    drop(conn);
    let bad = Position::new(2, 0);

    // The owned read fails on it.
    match sqlite
        .read_feed(Position::START, &FeedFilter::all(), 10)
        .await
    {
        Err(FeedError::Serialization {
            position,
            actor_id,
            version,
            ..
        }) => assert_eq!(
            (position, actor_id.as_str(), version),
            (bad, "Account|bad", 1)
        ),
        other => panic!("expected a serialization error at {bad}, got {other:?}"),
    }

    // The lending read lends it as stored, with the rows around it.
    let page = sqlite
        .visit_feed(
            Position::START,
            &FeedFilter::all(),
            10,
            Box::new(Lent::default()),
        )
        .await
        .expect("visit_feed lends a row whose data is not JSON");
    let lent: Box<dyn Any> = page.visitor;
    let lent = lent.downcast::<Lent>().unwrap().0;
    assert_eq!(lent.len(), 4, "{lent:?}");
    for (i, (lent, data)) in lent.iter().enumerate() {
        let e = &events[i];
        assert_eq!(
            lent,
            &EventIdentity {
                position: Position::new(i as u64 + 1, 0),
                actor_id: e.actor_id.clone(),
                version: e.version,
                event_type: e.event_type.clone(),
                event_id: e.id.clone(),
            }
        );
        let text = data
            .as_ref()
            .expect("SQLite lends the payload as its JSON text");
        if lent.position == bad {
            assert_eq!(text, "not json {", "lent as stored");
        } else {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(value, e.data, "the text of the stored payload");
        }
    }
    assert_eq!(page.next, Position::new(4, 0));

    // Decoding: the event before it decoded, the page ends before it, naming it.
    let page =
        Decoded::<Movement>::read_items(sqlite, Position::START, &FeedFilter::all(), 10, &[])
            .await
            .unwrap();
    let positions: Vec<Position> = page.items.iter().map(|i| i.position).collect();
    assert_eq!(positions, vec![Position::new(1, 0)]);
    assert_eq!(
        page.next,
        Position::new(1, 0),
        "next: the last item decoded"
    );
    let (identity, err) = page.failed.expect("the decoding of the bad row fails");
    assert_eq!(
        (
            identity.position,
            identity.actor_id.as_str(),
            identity.version,
            identity.event_type.as_str(),
            identity.event_id.as_str()
        ),
        (
            bad,
            "Account|bad",
            1,
            events[1].event_type.as_str(),
            events[1].id.as_str()
        )
    );
    assert!(
        err.to_string().contains("expected"),
        "a JSON syntax error: {err}"
    );

    // Stepping over it, the rest decode.
    let page =
        Decoded::<Movement>::read_items(sqlite, Position::START, &FeedFilter::all(), 10, &[bad])
            .await
            .unwrap();
    assert!(page.failed.is_none());
    let skipped: Vec<&str> = page.skipped.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(skipped, [events[1].id.as_str()]);
    let amounts: Vec<i64> = page.items.iter().map(|i| i.event.amount).collect();
    let expected: Vec<i64> = [0, 2, 3]
        .iter()
        .map(|&i| events[i].data["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, expected);
}
