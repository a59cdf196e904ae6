//! A hand-written account actor (no macros) and store wrappers that count, block or fail.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aether_core::{
    async_trait, ActorSnapshot, Event, EventStore, InMemoryStore, SnapshotStore, StoreError,
};
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub opened: bool,
    pub balance: i64,
    pub applied: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AccountEvent {
    Opened,
    Deposited {
        amount: i64,
    },
    Withdrawn {
        amount: i64,
    },
    /// `apply` panics on it while its tag is in [`POISONED`].
    Poison {
        tag: String,
    },
}

/// Tags whose `Poison` event makes `apply` panic.
pub static POISONED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

pub fn poison(tag: &str) {
    POISONED
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(tag.to_owned());
}

pub fn cure(tag: &str) {
    if let Some(set) = POISONED.lock().unwrap().as_mut() {
        set.remove(tag);
    }
}

fn is_poisoned(tag: &str) -> bool {
    POISONED
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|s| s.contains(tag))
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &str {
        match self {
            AccountEvent::Opened => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
            AccountEvent::Poison { .. } => "Poison",
        }
    }

    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(match self {
            AccountEvent::Opened => json!({}),
            AccountEvent::Deposited { amount } | AccountEvent::Withdrawn { amount } => {
                json!({ "amount": amount })
            }
            AccountEvent::Poison { tag } => json!({ "tag": tag }),
        })
    }

    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        let amount = || {
            data["amount"].as_i64().ok_or_else(|| {
                EventDecodeError::invalid_data(event_type, "amount is not an integer")
            })
        };
        match event_type {
            "Opened" => Ok(AccountEvent::Opened),
            "Deposited" => Ok(AccountEvent::Deposited { amount: amount()? }),
            "Withdrawn" => Ok(AccountEvent::Withdrawn { amount: amount()? }),
            "Poison" => Ok(AccountEvent::Poison {
                tag: data["tag"].as_str().unwrap_or_default().to_owned(),
            }),
            other => Err(EventDecodeError::unknown_type(other)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Open,
    Deposit(i64),
    Withdraw(i64),
    /// Two events in one command.
    DepositTwice(i64),
    /// A query.
    Get,
    /// `decide` panics.
    PanicInDecide,
    /// Records a `Poison` event.
    Poison(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("account is not open")]
    NotOpen,
    #[error("account is already open")]
    AlreadyOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    Insufficient { balance: i64, asked: i64 },
}

impl EventSourced for Account {
    const ACTOR_TYPE: &'static str = "Account";
    type Command = Cmd;
    type Event = AccountEvent;
    type Reply = Account;
    type Error = AccountError;

    fn decide(&self, command: &Cmd) -> Result<Decision<AccountEvent, Account>, AccountError> {
        let events = match command {
            Cmd::Open if self.opened => return Err(AccountError::AlreadyOpen),
            Cmd::Open => vec![AccountEvent::Opened],
            _ if !self.opened && *command != Cmd::Get => return Err(AccountError::NotOpen),
            Cmd::Deposit(amount) => vec![AccountEvent::Deposited { amount: *amount }],
            Cmd::DepositTwice(amount) => vec![
                AccountEvent::Deposited { amount: *amount },
                AccountEvent::Deposited { amount: *amount },
            ],
            Cmd::Withdraw(amount) if *amount > self.balance => {
                return Err(AccountError::Insufficient {
                    balance: self.balance,
                    asked: *amount,
                })
            }
            Cmd::Withdraw(amount) => vec![AccountEvent::Withdrawn { amount: *amount }],
            Cmd::Get => vec![],
            Cmd::PanicInDecide => panic!("decide panicked on purpose"),
            Cmd::Poison(tag) => vec![AccountEvent::Poison { tag: tag.clone() }],
        };
        // The reply is the state the events lead to.
        let mut after = self.clone();
        for event in &events {
            after.apply_pure(event);
        }
        Ok(Decision::new(events, after))
    }

    fn apply(&mut self, event: &AccountEvent) {
        if let AccountEvent::Poison { tag } = event {
            if is_poisoned(tag) {
                // Half-mutate first, so a runtime that kept this state would be caught.
                self.balance += 1_000_000;
                panic!("apply panicked on purpose");
            }
        }
        self.apply_pure(event);
    }
}

impl Account {
    fn apply_pure(&mut self, event: &AccountEvent) {
        self.applied += 1;
        match event {
            AccountEvent::Opened => self.opened = true,
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
            AccountEvent::Poison { .. } => {}
        }
    }

    /// The state a full replay of `events` gives.
    pub fn replay(events: &[Event]) -> Account {
        let mut state = Account::default();
        for e in events {
            state.apply_pure(&AccountEvent::from_data(&e.event_type, &e.data).unwrap());
        }
        state
    }
}

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
