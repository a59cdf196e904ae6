//! The shared account actor (`aether_runtime::testkit::account`, re-exported here with
//! its command enum as `Cmd`), a second actor type, store wrappers that count, block
//! or fail, and the capture of `warn` events ([`warnings`]).
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod warnings;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use aether_core::{
    async_trait, ActorSnapshot, Event, EventStore, InMemoryStore, SnapshotStore, StoreError,
};
pub use aether_runtime::testkit::account::{
    cure, poison, Account, AccountCommand as Cmd, AccountError, AccountEvent,
};
use aether_runtime::{Decision, DomainEvent, EventSourced};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// A second actor type, to check that types with equal ids keep separate histories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub count: i64,
}

impl EventSourced for Counter {
    const ACTOR_TYPE: &'static str = "Counter";
    type Command = ();
    type Event = AccountEvent;
    type Reply = i64;
    type Error = AccountError;

    fn decide(&self, _: &()) -> Result<Decision<AccountEvent, i64>, AccountError> {
        Ok(Decision::new(
            vec![AccountEvent::Deposited { amount: 1 }],
            self.count + 1,
        ))
    }

    fn apply(&mut self, _: &AccountEvent) {
        self.count += 1;
    }
}

/// A store wrapper that counts calls and can be told to block or fail.
#[derive(Default)]
pub struct TestStore {
    pub inner: InMemoryStore,
    pub save_events_calls: AtomicUsize,
    /// `append_events` calls (the owned path, taken when no one subscribes to the bus).
    pub append_events_calls: AtomicUsize,
    pub get_events_calls: AtomicUsize,
    pub latest_version_calls: AtomicUsize,
    pub snapshot_saves: AtomicUsize,
    /// Fail this many of the next `save_events` calls with a backend error (nothing stored).
    pub fail_saves: AtomicU64,
    /// Store, then fail, this many of the next `save_events` calls (a lost acknowledgement).
    pub lose_acks: AtomicU64,
    /// Fail every read while set.
    pub fail_reads: AtomicBool,
    /// When set, `save_events` waits for a permit first.
    pub save_gate: Option<Arc<Semaphore>>,
    /// When set, `save_snapshot` waits for a permit first.
    pub snapshot_gate: Option<Arc<Semaphore>>,
    /// Fail every snapshot save.
    pub fail_snapshots: AtomicBool,
}

fn backend_error(actor_id: &str, version: i64) -> StoreError {
    StoreError::backend(actor_id, version, std::io::Error::other("injected failure"))
}

#[async_trait]
impl EventStore for TestStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.save_events_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.save_gate {
            gate.acquire().await.unwrap().forget();
        }
        let (actor, version) = events
            .first()
            .map_or(("", 0), |e| (e.actor_id.as_str(), e.version));
        if take_one(&self.fail_saves) {
            return Err(backend_error(actor, version));
        }
        if take_one(&self.lose_acks) {
            self.inner.save_events(events).await?;
            return Err(backend_error(actor, version));
        }
        self.inner.save_events(events).await
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.append_events_calls.fetch_add(1, Ordering::SeqCst);
        self.save_events(&events).await
    }

    async fn get_events(&self, actor_id: &str, from: i64) -> Result<Vec<Event>, StoreError> {
        self.get_events_calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(backend_error(actor_id, from));
        }
        self.inner.get_events(actor_id, from).await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.latest_version_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for TestStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(backend_error(actor_id, 0));
        }
        self.inner.get_latest_snapshot(actor_id).await
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        if let Some(gate) = &self.snapshot_gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fail_snapshots.load(Ordering::SeqCst) {
            return Err(backend_error(&snapshot.actor_id, snapshot.version));
        }
        self.snapshot_saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save_snapshot(snapshot).await
    }
}

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A stored event written by "another process" directly into the store.
pub fn external_event(actor_id: &str, version: i64, event: &AccountEvent) -> Event {
    Event {
        id: format!("external-{version}"),
        event_type: event.event_type().to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: None,
        version,
        data: event.to_data().unwrap(),
        timestamp: chrono::Utc::now(),
    }
}

/// Yields until `condition` holds; fails naming `what` after 10 s of wall-clock time (a
/// regression fails with a message instead of hanging; a real clock, so it works under
/// a paused tokio clock too).
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 10 s for {what}"
        );
        tokio::task::yield_now().await;
    }
}
