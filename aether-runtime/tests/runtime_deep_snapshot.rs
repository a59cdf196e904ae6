//! A state whose JSON nests deeper than a store can read back
//! (`aether_core::MAX_PAYLOAD_DEPTH`) is not snapshotted (a warning instead); the actor
//! serves on, and the next crossing with a shallow state is snapshotted.

mod common;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aether_core::{json_depth, SnapshotStore, MAX_PAYLOAD_DEPTH};
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced, Runtime};
use common::{wait_until, TestStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A state holding a tree as deep as the last command asked.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tree {
    tree: Value,
}

/// The depth asked; its data is shallow.
struct Grown(usize);

impl DomainEvent for Grown {
    fn event_type(&self) -> &str {
        "Grown"
    }

    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({ "depth": self.0 }))
    }

    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        data["depth"]
            .as_u64()
            .map(|d| Grown(d as usize))
            .ok_or_else(|| EventDecodeError::invalid_data(event_type, "depth"))
    }
}

impl EventSourced for Tree {
    const ACTOR_TYPE: &'static str = "Tree";
    type Command = usize;
    type Event = Grown;
    type Reply = ();
    type Error = Infallible;

    fn decide(&self, depth: &usize) -> Result<Decision<Grown, ()>, Infallible> {
        Ok(Decision::new(vec![Grown(*depth)], ()))
    }

    fn apply(&mut self, event: &Grown) {
        self.tree = (0..event.0).fold(json!("leaf"), |inner, _| json!([inner]));
    }
}

#[tokio::test]
async fn a_state_too_deep_to_read_back_is_not_snapshotted() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).snapshot_every(1).build();
    let tree = runtime.actor::<Tree>("t");

    // Version 1: the state is deeper than the limit (the struct adds a level).
    tree.ask(MAX_PAYLOAD_DEPTH + 20).await.unwrap();
    // Version 2: shallow again; this crossing is snapshotted.
    tree.ask(3).await.unwrap();
    wait_until("the shallow state's snapshot", || {
        store.snapshot_saves.load(Ordering::SeqCst) >= 1
    })
    .await;

    let snapshot = store
        .get_latest_snapshot("Tree|t")
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(snapshot.version, 2, "version 1 was not snapshotted");
    assert_eq!(json_depth(&snapshot.state), 4); // the struct and 3 arrays
    assert_eq!(store.snapshot_saves.load(Ordering::SeqCst), 1);
    runtime.shutdown().await;

    // Rehydration from snapshot 2 gives the shallow state; the actor serves on.
    let runtime = Runtime::new(store.clone());
    runtime.actor::<Tree>("t").ask(4).await.unwrap();
    runtime.shutdown().await;
}
