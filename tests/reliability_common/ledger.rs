//! The actor of the reliability tests and fuzz targets, the shared account
//! (`aether_runtime::testkit::account`: its `apply` never panics, whatever the amounts),
//! and the decoding checks they share: what the store hands back, however malformed,
//! must decode to a value or to an error, never to a panic.
//!
//! The fuzz targets in `fuzz/` include this file with `#[path]`, so it depends only on
//! `aether-core`, `aether-runtime` (feature `testkit`), serde_json and tokio.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use aether_core::{ActorSnapshot, Event, EventStore, InMemoryStore, SnapshotStore};
pub use aether_runtime::testkit::account::{Account, AccountCommand, AccountError, AccountEvent};
use aether_runtime::{AskError, DomainEvent, EventSourced, Runtime};
use serde_json::{json, Value};

/// A stored event with the given type and payload.
pub fn raw_event(actor_id: &str, version: i64, event_type: &str, data: Value) -> Event {
    Event {
        id: format!("raw-{version}"),
        event_type: event_type.to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: None,
        version,
        data,
        timestamp: chrono::Utc::now(),
    }
}

/// Arbitrary bytes as a stored [`Event`]: an error or an event; if an event, its fields
/// survive a JSON round trip.
pub fn check_event_bytes(bytes: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Event>(bytes) else {
        return;
    };
    let text = serde_json::to_string(&event).expect("a decoded event encodes");
    match serde_json::from_str::<Event>(&text) {
        Ok(back) => {
            assert_eq!(back.id, event.id);
            assert_eq!(back.event_type, event.event_type);
            assert_eq!(back.actor_id, event.actor_id);
            assert_eq!(back.command_id, event.command_id);
            assert_eq!(back.version, event.version);
            assert_eq!(back.timestamp, event.timestamp);
        }
        Err(err) => panic!("event {text} does not read back: {err}"),
    }
}

/// Arbitrary bytes as a stored [`ActorSnapshot`], and its state as a [`Account`].
pub fn check_snapshot_bytes(bytes: &[u8]) {
    let Ok(snapshot) = serde_json::from_slice::<ActorSnapshot>(bytes) else {
        return;
    };
    let _ = serde_json::from_value::<Account>(snapshot.state.clone());
    let text = serde_json::to_string(&snapshot).expect("a decoded snapshot encodes");
    match serde_json::from_str::<ActorSnapshot>(&text) {
        Ok(back) => {
            assert_eq!(back.actor_id, snapshot.actor_id);
            assert_eq!(back.version, snapshot.version);
            assert_eq!(back.timestamp, snapshot.timestamp);
        }
        Err(err) => panic!("snapshot {text} does not read back: {err}"),
    }
}

/// Stored events (type, payload) and maybe a stored snapshot state, as a history the
/// runtime rehydrates the actor `Account|victim` from. The ask must answer: a state equal
/// to decoding the history by hand (an undecodable snapshot discarded, the history
/// replayed), or a start error naming the actor and the version of the first event that
/// does not decode. The neighbour actor is untouched.
pub async fn check_rehydration(history: Vec<(String, Value)>, snapshot: Option<Value>) {
    let store = Arc::new(InMemoryStore::new());
    let victim = "Account|victim";
    let neighbour = "Account|neighbour";
    store
        .save_events(&[raw_event(neighbour, 1, "Deposited", json!({ "amount": 5 }))])
        .await
        .unwrap();
    let events: Vec<Event> = history
        .iter()
        .enumerate()
        .map(|(i, (t, d))| raw_event(victim, i as i64 + 1, t, d.clone()))
        .collect();
    store.save_events(&events).await.unwrap();
    let snapshot_version = (events.len() / 2) as i64;
    if let Some(state) = &snapshot {
        store
            .save_snapshot(&ActorSnapshot {
                actor_id: victim.to_owned(),
                version: snapshot_version,
                state: state.clone(),
                timestamp: chrono::Utc::now(),
            })
            .await
            .unwrap();
    }

    // What a correct rehydration gives, decoded by hand.
    let expected: Result<Account, i64> = (|| {
        // A snapshot that does not decode is discarded: the whole history is replayed.
        let decoded = snapshot
            .as_ref()
            .and_then(|s| serde_json::from_value::<Account>(s.clone()).ok());
        let (mut state, from) = match decoded {
            Some(state) => (state, snapshot_version),
            None => (Account::default(), 0),
        };
        for e in events.iter().filter(|e| e.version > from) {
            let event = AccountEvent::from_data(&e.event_type, &e.data).map_err(|_| e.version)?;
            state.apply(&event);
        }
        Ok(state)
    })();

    let runtime = Runtime::builder(store.clone())
        .passivate_after(None)
        .build();
    let answer = runtime
        .actor::<Account>("victim")
        .ask(AccountCommand::Get)
        .await;
    match (answer, expected) {
        (Ok(state), Ok(expected)) => assert_eq!(state, expected),
        (Err(AskError::StartFailed(err)), Err(version)) => {
            assert_eq!(err.actor_id(), victim);
            assert_eq!(err.version(), version, "{err}");
            let message = err.to_string();
            assert!(message.contains(victim), "{message}");
            assert!(message.contains(&format!("version {version}")), "{message}");
        }
        (answer, expected) => panic!("got {answer:?}, expected {expected:?}"),
    }
    let neighbour_state = runtime
        .actor::<Account>("neighbour")
        .ask(AccountCommand::Get)
        .await
        .unwrap();
    assert_eq!(neighbour_state.balance, 5);
    runtime.shutdown().await;
}

/// Arbitrary bytes as a history: a JSON array of `[type, data]` pairs or of payloads
/// (typed "Deposited"), optionally followed by `{"snapshot": state}`; any other JSON
/// value is one "Deposited" payload; non-JSON bytes are one payload string.
pub fn history_from_bytes(bytes: &[u8]) -> (Vec<(String, Value)>, Option<Value>) {
    let value = serde_json::from_slice::<Value>(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()));
    let mut snapshot = None;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut history = Vec::new();
    for item in items.into_iter().take(64) {
        match item {
            Value::Array(pair) if pair.len() == 2 && pair[0].is_string() => {
                history.push((
                    pair[0].as_str().unwrap_or_default().to_owned(),
                    pair[1].clone(),
                ));
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("snapshot") => {
                snapshot = map.get("snapshot").cloned();
            }
            other => history.push(("Deposited".to_owned(), other)),
        }
    }
    (history, snapshot)
}
