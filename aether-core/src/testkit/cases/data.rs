//! Data and ids: empty and special actor ids, the seed's vectors, long histories.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use crate::{EventStore, MAX_PAYLOAD_DEPTH};

use super::support::*;

/// An empty actor id is refused with an invalid-input error, never a panic.
pub async fn empty_actor_id_is_rejected<S: EventStore + ?Sized>(store: Arc<S>) {
    expect_invalid_input(
        store.save_event(&event("", 1)).await,
        "save_event with empty id",
    );
    expect_invalid_input(
        store.save_events(&[event("", 1), event("", 2)]).await,
        "save_events with empty id",
    );
    for result in [
        store.get_events("", 0).await.map(drop),
        store.get_latest_version("").await.map(drop),
    ] {
        expect_invalid_input(result, "read with empty id");
    }
}

/// Every event of the seed's vectors goes through the store and reads back equal
/// (`data: null`, nanoseconds, `i64::MAX`, unicode, no command id).
pub async fn seed_vectors_round_trip_through_store<S: EventStore + ?Sized>(store: Arc<S>) {
    let suffix = actor("");
    for mut original in crate::testkit::seed_vectors().events {
        original.actor_id.push_str(&suffix);
        store.save_event(&original).await.unwrap();
        let read = store
            .get_events(&original.actor_id, original.version)
            .await
            .unwrap();
        assert_eq!(
            read,
            vec![original.clone()],
            "seed event {} round trips",
            original.id
        );
        let latest = store.get_latest_version(&original.actor_id).await.unwrap();
        assert_eq!(latest, original.version);
    }
}

/// A 10,000-event history, written in batches, reads back from the middle.
pub async fn long_history_read_from_the_middle<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("long");
    for chunk in (1..=10_000).collect::<Vec<i64>>().chunks(500) {
        save_all(&*store, &id, chunk).await;
    }
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 10_000);
    let tail = store.get_events(&id, 5_001).await.unwrap();
    assert_eq!(versions(&tail), (5_001..=10_000).collect::<Vec<_>>());
    assert!(tail
        .iter()
        .all(|e| e.actor_id == id && e.data["version"] == json!(e.version)));
}

/// Actor ids with characters that backends treat specially are kept apart and intact,
/// including ids that a careless encoding would map to the same key.
pub async fn special_actor_ids_are_kept_apart_and_intact<S: EventStore + ?Sized>(store: Arc<S>) {
    let base = actor("special");
    let suffixes = [
        "",
        ".",
        "a.b",
        "a_b",
        "a-b",
        "a%2Eb",
        "a_2E_b",
        "a.*",
        "*",
        ">",
        "a>b",
        "a/b",
        "a\\b",
        "a b",
        "a  b",
        "a\"b",
        "a'b",
        "'; DROP TABLE events; --",
        "a\tb",
        "a\nb",
        "ünïcødé ✓",
        "日本語",
        "emoji 🦀",
        "A",
        "a",
        "=",
        "a=b",
        "~",
        "$",
        "%",
        "+",
        "a|b",
        "a:b",
        "#",
    ];
    let ids: Vec<String> = suffixes.iter().map(|s| format!("{base}{s}")).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    for (i, id) in ids.iter().enumerate() {
        let mut e = event(id, 1);
        e.data = json!({ "id": id, "index": i });
        store
            .save_event(&e)
            .await
            .unwrap_or_else(|err| panic!("saving for {id:?}: {err}"));
    }
    for (i, id) in ids.iter().enumerate() {
        let events = store.get_events(id, 0).await.unwrap();
        assert_eq!(events.len(), 1, "actor {id:?} has exactly its own event");
        assert_eq!(events[0].actor_id, *id, "actor id intact");
        assert_eq!(events[0].data, json!({ "id": id, "index": i }));
        assert_eq!(store.get_latest_version(id).await.unwrap(), 1);
    }
}

/// `replay_events` lends exactly the events `get_events` returns (the seed's vectors, a
/// deeply nested payload, from any version), and stops when the visitor breaks.
pub async fn replay_lends_what_get_events_returns<S: EventStore + ?Sized>(store: Arc<S>) {
    let id = actor("replay");
    let mut history: Vec<crate::Event> = crate::testkit::seed_vectors()
        .events
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.actor_id = id.clone();
            e.version = i as i64 + 1;
            e
        })
        .collect();
    let mut deep = event(&id, history.len() as i64 + 1);
    // As deep as a store accepts.
    deep.data = nested(MAX_PAYLOAD_DEPTH);
    history.push(deep);
    store.save_events(&history).await.unwrap();
    for from in [
        i64::MIN,
        0,
        1,
        2,
        history.len() as i64,
        history.len() as i64 + 1,
    ] {
        let expected = store.get_events(&id, from).await.unwrap();
        let mut lent = Vec::new();
        store
            .replay_events(&id, from, &mut |e| {
                lent.push(e.to_event().expect("a lent payload parses"));
                std::ops::ControlFlow::Continue(())
            })
            .await
            .unwrap();
        assert_eq!(
            lent, expected,
            "replay from {from} lends what get_events returns"
        );
    }
    assert_eq!(store.get_events(&id, 0).await.unwrap(), history);
    let mut seen = 0;
    store
        .replay_events(&id, 0, &mut |_| {
            seen += 1;
            if seen == 2 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
    assert_eq!(seen, 2, "replay stops when the visitor breaks");
    expect_invalid_input(
        store
            .replay_events("", 0, &mut |_| std::ops::ControlFlow::Continue(()))
            .await,
        "replay with empty id",
    );
}

/// Data nested deeper than [`MAX_PAYLOAD_DEPTH`] is refused at save, alone or in a batch,
/// with an invalid-input error naming the actor, the version and the limit, and leaves
/// the history unchanged (`serde_json` does not parse text nested past 127 levels: a store
/// that accepted it might never read the history back); data at the limit round-trips.
pub async fn payload_nested_deeper_than_the_limit_is_refused<S: EventStore + ?Sized>(
    store: Arc<S>,
) {
    let id = actor("deep");
    let first = event(&id, 1);
    store.save_event(&first).await.unwrap();
    // Just past the limit, and past what serde_json parses.
    for depth in [MAX_PAYLOAD_DEPTH + 1, 200] {
        let mut deep = event(&id, 2);
        deep.data = nested(depth);
        expect_too_deep(store.save_event(&deep).await, &id, 2);
        // Behind a valid event of the same batch: the whole batch is refused.
        deep.version = 3;
        expect_too_deep(store.save_events(&[event(&id, 2), deep]).await, &id, 3);
    }
    assert_eq!(
        store.get_events(&id, 0).await.unwrap(),
        vec![first.clone()],
        "refused saves leave the history unchanged"
    );
    assert_eq!(store.get_latest_version(&id).await.unwrap(), 1);

    let mut at_limit = event(&id, 2);
    at_limit.data = nested(MAX_PAYLOAD_DEPTH);
    let mut after = event(&id, 3);
    after.data = json!([nested(MAX_PAYLOAD_DEPTH - 1)]);
    store
        .save_events(&[at_limit.clone(), after.clone()])
        .await
        .unwrap_or_else(|err| panic!("data {MAX_PAYLOAD_DEPTH} levels deep is accepted: {err}"));
    assert_eq!(
        store.get_events(&id, 0).await.unwrap(),
        vec![first, at_limit, after],
        "data {MAX_PAYLOAD_DEPTH} levels deep reads back equal"
    );
}
