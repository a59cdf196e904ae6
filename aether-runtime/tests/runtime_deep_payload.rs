//! An event whose data nests deeper than a store accepts
//! (`aether_core::MAX_PAYLOAD_DEPTH`) fails its own command with `AskError::Encode`,
//! stores nothing and leaves the actor serving; at the limit it is stored and replayed.

mod common;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aether_core::{json_depth, EventStore, MAX_PAYLOAD_DEPTH};
use aether_runtime::{AskError, Decision, DomainEvent, EventDecodeError, EventSourced, Runtime};
use common::{wait_until, TestStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// An actor that records, for a command `n`, an event whose data is `n` arrays deep.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Nester {
    depths: Vec<usize>,
}

/// Data `depth` arrays deep.
struct Nested(usize);

impl DomainEvent for Nested {
    fn event_type(&self) -> &str {
        "Nested"
    }

    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok((0..self.0).fold(json!("leaf"), |inner, _| json!([inner])))
    }

    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        match event_type {
            "Nested" => Ok(Nested(json_depth(data))),
            other => Err(EventDecodeError::unknown_type(other)),
        }
    }
}

impl EventSourced for Nester {
    const ACTOR_TYPE: &'static str = "Nester";
    type Command = usize;
    type Event = Nested;
    /// The depths recorded so far.
    type Reply = Vec<usize>;
    type Error = Infallible;

    fn decide(&self, depth: &usize) -> Result<Decision<Nested, Vec<usize>>, Infallible> {
        let mut depths = self.depths.clone();
        depths.push(*depth);
        Ok(Decision::new(vec![Nested(*depth)], depths))
    }

    fn apply(&mut self, event: &Nested) {
        self.depths.push(event.0);
    }
}

/// The depths of the events stored for `actor_id`.
async fn stored_depths(store: &TestStore, actor_id: &str) -> Vec<usize> {
    let events = store.inner.get_events(actor_id, 0).await.unwrap();
    events.iter().map(|e| json_depth(&e.data)).collect()
}

#[tokio::test]
async fn an_event_too_deep_fails_its_ask_with_encode_and_stores_nothing() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let nester = runtime.actor::<Nester>("n1");
    assert_eq!(
        nester.ask(MAX_PAYLOAD_DEPTH).await.unwrap(),
        [MAX_PAYLOAD_DEPTH]
    );
    let saves = store.save_events_calls.load(Ordering::SeqCst);
    // One past the limit, and past what serde_json parses back.
    for depth in [MAX_PAYLOAD_DEPTH + 1, 300] {
        let err = nester
            .ask(depth)
            .await
            .expect_err("data too deep is refused");
        assert!(!err.is_retryable(), "data too deep does not heal: {err}");
        match err {
            AskError::Encode {
                actor_id,
                version,
                event_type,
                reason,
            } => {
                assert_eq!(actor_id, "Nester|n1");
                assert_eq!(version, 2, "the version the event would have had");
                assert_eq!(event_type, "Nested");
                assert!(
                    reason.contains(&MAX_PAYLOAD_DEPTH.to_string()),
                    "the error says the limit: {reason}"
                );
            }
            other => panic!("depth {depth}: expected AskError::Encode, got {other:?}"),
        }
    }
    assert_eq!(
        store.save_events_calls.load(Ordering::SeqCst),
        saves,
        "the store was not asked"
    );
    // The actor goes on serving, from the state the store holds.
    assert_eq!(nester.ask(5).await.unwrap(), [MAX_PAYLOAD_DEPTH, 5]);
    assert_eq!(
        stored_depths(&store, "Nester|n1").await,
        [MAX_PAYLOAD_DEPTH, 5]
    );
    runtime.shutdown().await;
    // A new runtime replays the stored history, the event at the limit included.
    let runtime = Runtime::new(store.clone());
    let nester = runtime.actor::<Nester>("n1");
    assert_eq!(nester.ask(1).await.unwrap(), [MAX_PAYLOAD_DEPTH, 5, 1]);
    runtime.shutdown().await;
}

/// Commands queued behind a held append are handled together (one append); the one
/// whose event is too deep fails alone.
#[tokio::test]
async fn an_event_too_deep_among_queued_commands_fails_only_its_own() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::new(store.clone());
    let nester = runtime.actor::<Nester>("n2");
    gate.add_permits(1);
    nester.ask(3).await.unwrap();
    let calls = store.save_events_calls.load(Ordering::SeqCst);
    let held = {
        let nester = nester.clone();
        tokio::spawn(async move { nester.ask(4).await })
    };
    wait_until("the held append", || {
        store.save_events_calls.load(Ordering::SeqCst) > calls
    })
    .await;
    // Queued in the mailbox now, in this order, while the actor waits in the append.
    for depth in [5, MAX_PAYLOAD_DEPTH + 1, 6] {
        nester
            .try_tell(depth)
            .unwrap_or_else(|_| panic!("queueing {depth}"));
    }
    gate.add_permits(1_000);
    assert_eq!(held.await.unwrap().unwrap(), [3, 4]);
    // Asked after the told commands: answered after them.
    assert_eq!(nester.ask(7).await.unwrap(), [3, 4, 5, 6, 7]);
    assert_eq!(stored_depths(&store, "Nester|n2").await, [3, 4, 5, 6, 7]);
    runtime.shutdown().await;
}
