//! Conflicts with a second writer, store failures, panics, undecodable history.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{async_trait, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError};
use aether_runtime::{AskError, Runtime, StartError};
use common::{cure, external_event, poison, Account, AccountEvent, Cmd, TestStore};

/// Invariant 7: a second writer is detected; the actor catches up and decides again.
#[tokio::test]
async fn a_second_writer_is_detected_and_the_command_retried() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("shared");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(10)).await.unwrap();
    // Another process appends versions 3 and 4 behind the actor's back.
    for (v, amount) in [(3, 5), (4, 1)] {
        let e = external_event("Account|shared", v, &AccountEvent::Deposited { amount });
        store.inner.save_event(&e).await.unwrap();
    }
    // The actor does not know yet: its append at version 3 conflicts, it catches up
    // (reads 3 and 4), decides again and appends at 5.
    let state = account.ask(Cmd::Deposit(1)).await.unwrap();
    assert_eq!(state.balance, 17, "10 + 5 + 1 from the other writer, + 1");
    let state = account.ask(Cmd::Withdraw(17)).await.unwrap();
    assert_eq!(state.balance, 0);
    let events = store.inner.get_events("Account|shared", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(Account::replay(&events), state);
}

/// A store where another writer always wins: every append conflicts.
#[derive(Default)]
struct AlwaysConflicting {
    inner: TestStore,
}

#[async_trait]
impl EventStore for AlwaysConflicting {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.inner.save_events_calls.fetch_add(1, Ordering::SeqCst);
        // Someone else takes the version first.
        let mut theirs = events[0].clone();
        theirs.id = format!("theirs-{}", theirs.version);
        theirs.data = serde_json::json!({ "amount": 1 });
        theirs.event_type = "Deposited".into();
        self.inner.inner.save_event(&theirs).await?;
        self.inner.inner.save_events(events).await
    }
    async fn get_events(&self, actor_id: &str, from: i64) -> Result<Vec<Event>, StoreError> {
        self.inner.get_events(actor_id, from).await
    }
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.inner.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for AlwaysConflicting {
    async fn get_latest_snapshot(&self, id: &str) -> Result<Option<ActorSnapshot>, StoreError> {
        self.inner.get_latest_snapshot(id).await
    }
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
}

#[tokio::test]
async fn conflicts_are_retried_a_bounded_number_of_times() {
    let store = Arc::new(AlwaysConflicting::default());
    let runtime = Runtime::builder(store.clone()).conflict_retries(2).build();
    let account = runtime.actor::<Account>("contended");
    let err = account.ask(Cmd::Open).await.unwrap_err();
    match &err {
        AskError::Conflict {
            actor_id,
            attempts,
            conflict,
        } => {
            assert_eq!(actor_id, "Account|contended");
            assert_eq!(*attempts, 3, "one try and two retries");
            assert_eq!(conflict.actor_id, "Account|contended");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.inner.save_events_calls.load(Ordering::SeqCst), 3);
    assert!(err.to_string().contains("version conflict"), "{err}");
}

/// Invariant 2: after any store error, the in-memory state equals what the store holds,
/// including when the append landed but its acknowledgement was lost.
#[tokio::test]
async fn after_store_errors_the_state_equals_the_store() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("flaky");
    account.ask(Cmd::Open).await.unwrap();

    store.fail_saves.store(1, Ordering::SeqCst);
    let err = account.ask(Cmd::Deposit(5)).await.unwrap_err();
    assert!(
        matches!(
            err,
            AskError::Store {
                source: StoreError::Backend { .. },
                ..
            }
        ),
        "{err:?}"
    );

    store.lose_acks.store(1, Ordering::SeqCst);
    let err = account.ask(Cmd::Deposit(7)).await.unwrap_err();
    assert!(matches!(err, AskError::Store { .. }), "{err:?}");

    let stored = store.inner.get_events("Account|flaky", 0).await.unwrap();
    let state = account.ask(Cmd::Get).await.unwrap();
    assert_eq!(
        state,
        Account::replay(&stored),
        "state == store after a lost ack"
    );
    assert_eq!(state.balance, 7);
    // And the actor goes on at the right version.
    assert_eq!(account.ask(Cmd::Deposit(1)).await.unwrap().balance, 8);
    let stored = store.inner.get_events("Account|flaky", 0).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn a_store_down_during_reload_gives_store_errors_then_recovers() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("down");
    account.ask(Cmd::Open).await.unwrap();
    store.fail_saves.store(1, Ordering::SeqCst);
    store.fail_reads.store(true, Ordering::SeqCst);
    assert!(account.ask(Cmd::Deposit(1)).await.is_err());
    // The actor must check the store before deciding again, and cannot: an error.
    let err = account.ask(Cmd::Deposit(1)).await.unwrap_err();
    assert!(matches!(err, AskError::Store { .. }), "{err:?}");
    store.fail_reads.store(false, Ordering::SeqCst);
    assert_eq!(account.ask(Cmd::Deposit(2)).await.unwrap().balance, 2);
}

#[tokio::test]
async fn a_panic_in_decide_fails_that_ask_and_the_actor_goes_on() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("panicky");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(3)).await.unwrap();
    let err = account.ask(Cmd::PanicInDecide).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(
        err.to_string().contains("decide panicked on purpose"),
        "{err}"
    );
    assert_eq!(account.ask(Cmd::Deposit(1)).await.unwrap().balance, 4);
}

#[tokio::test]
async fn a_panic_in_apply_of_a_new_event_stores_nothing_and_the_actor_goes_on() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("half-mutated");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(3)).await.unwrap();
    let tag = 1; // this test's own (tags are process-wide)
    poison(tag); // `apply` panics on this event until cured: a bug in the program
    let err = account.ask(Cmd::Poison(tag)).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    let stored = store
        .inner
        .get_events("Account|half-mutated", 0)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "the event whose apply panicked was stored");
    // The bug is not fixed, yet the actor serves commands and queries.
    let state = account.ask(Cmd::Get).await.unwrap();
    assert_eq!(
        state,
        Account::replay(&stored),
        "no trace of the half-mutated memory"
    );
    assert_eq!(state.balance, 3);
    assert_eq!(account.ask(Cmd::Deposit(2)).await.unwrap().balance, 5);
    // And a fresh runtime starts it from the store.
    runtime.shutdown().await;
    let again = Runtime::new(store.clone());
    assert_eq!(
        again
            .actor::<Account>("half-mutated")
            .ask(Cmd::Get)
            .await
            .unwrap()
            .balance,
        5
    );
    again.shutdown().await;
    cure(tag);
}

#[tokio::test]
async fn a_stored_event_that_no_longer_applies_fails_the_start_naming_it_and_the_way_out() {
    let store = Arc::new(TestStore::default());
    let tag = 2;
    // Stored by an older build whose `apply` accepted it; this build's panics on it.
    let opened = external_event("Account|old-history", 1, &AccountEvent::Opened);
    let poisoned = external_event("Account|old-history", 2, &AccountEvent::Poison { tag });
    store.inner.save_events(&[opened, poisoned]).await.unwrap();
    poison(tag);
    let runtime = Runtime::new(store.clone());
    let err = runtime
        .actor::<Account>("old-history")
        .ask(Cmd::Get)
        .await
        .unwrap_err();
    match &err {
        AskError::StartFailed(start) => {
            assert!(matches!(**start, StartError::Apply { .. }), "{start:?}");
            assert_eq!(start.version(), 2);
            assert_eq!(start.event_type(), Some("Poison"));
            assert!(!start.is_retryable());
            let message = start.to_string();
            assert!(
                message.contains("version 2")
                    && message.contains("\"Poison\"")
                    && message.contains("apply panicked on purpose")
                    && message.contains("make `apply` accept this event"),
                "{message}"
            );
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    // Other actors are not affected.
    assert!(runtime
        .actor::<Account>("neighbour")
        .ask(Cmd::Open)
        .await
        .is_ok());
    // Once `apply` accepts the event again, the next ask starts the actor.
    cure(tag);
    assert!(runtime
        .actor::<Account>("old-history")
        .ask(Cmd::Get)
        .await
        .is_ok());
    runtime.shutdown().await;
}

#[tokio::test]
async fn too_many_panics_stop_the_actor_for_pending_and_later_asks() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone())
        .max_panics(2, Duration::from_secs(3_600))
        .build();
    let account = runtime.actor::<Account>("doomed");
    account.ask(Cmd::Open).await.unwrap();
    for _ in 0..2 {
        assert!(account
            .ask(Cmd::PanicInDecide)
            .await
            .unwrap_err()
            .is_panic());
    }
    // Queue more behind the fatal third panic.
    let third = tokio::spawn({
        let account = account.clone();
        async move { account.ask(Cmd::PanicInDecide).await }
    });
    let pending: Vec<_> = (0..5)
        .map(|_| {
            let account = account.clone();
            tokio::spawn(async move { account.ask(Cmd::Deposit(1)).await })
        })
        .collect();
    assert!(third.await.unwrap().unwrap_err().is_panic());
    for ask in pending {
        match ask.await.unwrap() {
            Err(AskError::Stopped {
                actor_id, reason, ..
            }) => {
                assert_eq!(actor_id, "Account|doomed");
                assert!(reason.contains("panicked 3 times"), "{reason}");
            }
            // Queued before the fatal panic was handled? No: one at a time, in order.
            Ok(state) => assert!(state.balance <= 5),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let later = account.ask(Cmd::Get).await.unwrap_err();
    assert!(matches!(later, AskError::Stopped { .. }), "{later:?}");
    let later = runtime
        .actor::<Account>("doomed")
        .ask(Cmd::Get)
        .await
        .unwrap_err();
    assert!(matches!(later, AskError::Stopped { .. }), "{later:?}");
}

#[tokio::test]
async fn an_undecodable_event_fails_the_start_for_every_waiting_ask() {
    let store = Arc::new(TestStore::default());
    let bad = Event {
        id: "bad".into(),
        event_type: "Deposited".into(),
        actor_id: "Account|corrupt".into(),
        command_id: None,
        version: 2,
        data: serde_json::json!({ "amount": "not a number" }),
        timestamp: chrono::Utc::now(),
    };
    let opened = external_event("Account|corrupt", 1, &AccountEvent::Opened);
    store.inner.save_events(&[opened, bad]).await.unwrap();
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("corrupt");
    let asks: Vec<_> = (0..10)
        .map(|_| {
            let account = account.clone();
            tokio::spawn(async move { account.ask(Cmd::Get).await })
        })
        .collect();
    for ask in asks {
        match ask.await.unwrap() {
            Err(AskError::StartFailed(err)) => {
                assert!(matches!(*err, StartError::Decode { .. }), "{err:?}");
                assert!(!err.is_retryable(), "a bad event does not heal by retrying");
                assert_eq!(err.actor_id(), "Account|corrupt");
                assert_eq!(err.version(), 2);
                assert_eq!(err.event_type(), Some("Deposited"));
                let message = err.to_string();
                assert!(
                    message.contains("Account|corrupt")
                        && message.contains("version 2")
                        && message.contains("Deposited"),
                    "{message}"
                );
            }
            other => panic!("expected StartFailed, got {other:?}"),
        }
    }
    // An unknown event type too.
    let unknown = Event {
        event_type: "Teleported".into(),
        ..external_event("Account|unknown", 1, &AccountEvent::Opened)
    };
    store.inner.save_event(&unknown).await.unwrap();
    let err = runtime
        .actor::<Account>("unknown")
        .ask(Cmd::Get)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Teleported"), "{err}");
}

/// A snapshot of an older state shape is discarded: the actor replays its events, then
/// writes a fresh snapshot once past the old one.
#[tokio::test]
async fn an_undecodable_snapshot_is_discarded_and_the_events_replayed() {
    let store = Arc::new(TestStore::default());
    let id = "Account|bad-snapshot";
    let history: Vec<_> = [
        AccountEvent::Opened,
        AccountEvent::Deposited { amount: 4 },
        AccountEvent::Deposited { amount: 6 },
    ]
    .iter()
    .enumerate()
    .map(|(i, e)| external_event(id, i as i64 + 1, e))
    .collect();
    store.inner.save_events(&history).await.unwrap();
    store
        .inner
        .save_snapshot(&ActorSnapshot {
            actor_id: id.into(),
            version: 2,
            state: serde_json::json!({ "balance": "lots" }),
            timestamp: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let runtime = Runtime::builder(store.clone()).snapshot_every(1).build();
    let account = runtime.actor::<Account>("bad-snapshot");
    let state = account.ask(Cmd::Get).await.unwrap();
    assert_eq!(state, Account::replay(&history), "replayed from the events");
    assert_eq!(state.balance, 10);
    // The fresh snapshot (written off the command path) is there once shutdown returns.
    runtime.shutdown().await;
    let fresh = store.inner.get_latest_snapshot(id).await.unwrap().unwrap();
    assert_eq!(fresh.version, 3);
    assert_eq!(fresh.state["balance"], 10);
}

#[tokio::test]
async fn a_start_that_failed_on_a_store_error_is_retried_by_the_next_ask() {
    let store = Arc::new(TestStore::default());
    store.fail_reads.store(true, Ordering::SeqCst);
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("retry-start");
    let err = account.ask(Cmd::Get).await.unwrap_err();
    assert!(
        matches!(&err, AskError::StartFailed(e) if matches!(**e, StartError::Store { .. })),
        "{err:?}"
    );
    // The type and the message both say that it heals by itself.
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("retryable"), "{err}");
    store.fail_reads.store(false, Ordering::SeqCst);
    assert!(account.ask(Cmd::Open).await.is_ok());
}
