//! The path of one command: decide, record, persist, apply, reply.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, InMemoryStore};
use aether_runtime::{AskError, AskOptions, Runtime};
use common::{wait_until, Account, AccountError, Cmd, Counter, TestStore};
use tokio::sync::Semaphore;

fn runtime_over(store: Arc<TestStore>) -> Runtime {
    Runtime::builder(store).build()
}

#[tokio::test]
async fn ask_persists_applies_and_replies() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("acc-1");
    account.ask(Cmd::Open).await.unwrap();
    let state = account.ask(Cmd::Deposit(100)).await.unwrap();
    assert_eq!(state.balance, 100);
    let state = account.ask(Cmd::Withdraw(30)).await.unwrap();
    assert_eq!(state.balance, 70);

    let events = store.inner.get_events("Account|acc-1", 0).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(events[1].event_type, "Deposited");
    assert_eq!(events[1].data, serde_json::json!({ "amount": 100 }));
    assert_eq!(events[1].actor_id, "Account|acc-1");
    assert_eq!(events[1].command_id, None);
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3, "fresh ids");
    for e in &events {
        let id = uuid::Uuid::parse_str(&e.id).expect("a uuid");
        assert_eq!(id.get_version_num(), 7, "uuid v7");
    }
    assert!(events[0].timestamp <= events[2].timestamp);
    assert_eq!(
        Account::replay(&events),
        account.ask(Cmd::Get).await.unwrap()
    );
}

#[tokio::test]
async fn a_rejected_command_persists_nothing_and_carries_the_domain_error() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("acc-2");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(10)).await.unwrap();
    let err = account.ask(Cmd::Withdraw(50)).await.unwrap_err();
    match &err {
        AskError::Rejected {
            actor_id,
            version,
            error,
        } => {
            assert_eq!(actor_id, "Account|acc-2");
            assert_eq!(*version, 2);
            assert_eq!(
                *error,
                AccountError::Insufficient {
                    balance: 10,
                    asked: 50
                }
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("Account|acc-2") && message.contains("version 2"),
        "{message}"
    );
    assert_eq!(
        store
            .inner
            .get_latest_version("Account|acc-2")
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn queries_persist_nothing() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("acc-3");
    account.ask(Cmd::Open).await.unwrap();
    let saves = store.save_events_calls.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert!(account.ask(Cmd::Get).await.unwrap().opened);
    }
    assert_eq!(store.save_events_calls.load(Ordering::SeqCst), saves);
}

/// Invariant 4: a command's events go to the store in one atomic `save_events`.
#[tokio::test]
async fn a_commands_events_are_one_atomic_append() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("acc-4");
    account.ask(Cmd::Open).await.unwrap();
    let before = store.save_events_calls.load(Ordering::SeqCst);
    let state = account.ask(Cmd::deposit_many(5, 2)).await.unwrap();
    assert_eq!(state.balance, 10);
    assert_eq!(store.save_events_calls.load(Ordering::SeqCst), before + 1);
    // A failing append stores none of the command's events and applies none.
    store.fail_saves.store(1, Ordering::SeqCst);
    let err = account.ask(Cmd::deposit_many(7, 2)).await.unwrap_err();
    assert!(matches!(err, AskError::Store { .. }), "{err:?}");
    let events = store.inner.get_events("Account|acc-4", 0).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        account.ask(Cmd::Get).await.unwrap(),
        Account::replay(&events)
    );
}

/// Invariant 3: the hot path never asks the store for the version.
#[tokio::test]
async fn the_hot_path_never_asks_the_store_for_the_version() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("acc-5");
    account.ask(Cmd::Open).await.unwrap();
    for _ in 0..200 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    assert_eq!(store.latest_version_calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        1,
        "only the rehydration read"
    );
}

#[tokio::test]
async fn two_actor_types_with_the_same_id_keep_separate_histories() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("same");
    let counter = runtime.actor::<Counter>("same");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(3)).await.unwrap();
    assert_eq!(counter.ask(()).await.unwrap(), 1);
    assert_eq!(counter.ask(()).await.unwrap(), 2);
    assert_eq!(
        store
            .inner
            .get_latest_version("Account|same")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .inner
            .get_latest_version("Counter|same")
            .await
            .unwrap(),
        2
    );
    assert_eq!(account.stored_id(), "Account|same");
    assert_eq!(counter.stored_id(), "Counter|same");
}

#[tokio::test]
async fn try_ask_fails_fast_on_a_full_mailbox_and_ask_times_out() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::builder(store.clone()).mailbox_capacity(2).build();
    let account = runtime.actor::<Account>("busy");
    // The first command blocks the actor in `save_events`.
    let first = tokio::spawn({
        let account = account.clone();
        async move { account.ask(Cmd::Open).await }
    });
    wait_until("the first command to reach the store", || {
        store.save_events_calls.load(Ordering::SeqCst) > 0
    })
    .await;
    // Fill the mailbox (capacity 2) without waiting.
    account.try_tell(Cmd::Deposit(1)).unwrap();
    account.try_tell(Cmd::Deposit(1)).unwrap();
    let full = account.try_ask(Cmd::Deposit(1)).await.unwrap_err();
    assert!(matches!(full, AskError::MailboxFull { .. }), "{full:?}");
    // The command that did not fit comes back.
    let refused = account.try_tell(Cmd::Withdraw(3)).unwrap_err();
    assert!(
        matches!(refused.error, AskError::MailboxFull { .. }),
        "{refused}"
    );
    assert_eq!(refused.command, Cmd::Withdraw(3));
    let timed_out = account
        .ask_timeout(Cmd::Get, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(
        matches!(timed_out, AskError::Timeout { .. }),
        "{timed_out:?}"
    );
    gate.add_permits(100);
    first.await.unwrap().unwrap();
    let state = account.ask(Cmd::Get).await.unwrap();
    assert_eq!(state.balance, 2, "both told deposits ran");
}

#[tokio::test]
async fn the_configured_ask_timeout_applies() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::builder(store)
        .ask_timeout(Some(Duration::from_millis(20)))
        .build();
    let err = runtime
        .actor::<Account>("slow")
        .ask(Cmd::Open)
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::Timeout { after, .. } if after == Duration::from_millis(20)));
    assert!(err.is_retryable());
    gate.add_permits(10);
}

#[tokio::test]
async fn a_plain_event_store_without_snapshots_works() {
    let store = Arc::new(InMemoryStore::new());
    let runtime = Runtime::builder_without_snapshots(store.clone())
        .snapshot_every(1)
        .build();
    let account = runtime.actor::<Account>("plain");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(4)).await.unwrap();
    runtime.shutdown().await;
    let runtime = Runtime::builder_without_snapshots(store).build();
    assert_eq!(
        runtime
            .actor::<Account>("plain")
            .ask(Cmd::Get)
            .await
            .unwrap()
            .balance,
        4
    );
}

#[tokio::test]
async fn command_ids_are_stored_on_every_event_of_the_command() {
    let store = Arc::new(TestStore::default());
    let runtime = runtime_over(store.clone());
    let account = runtime.actor::<Account>("cid");
    account.ask(Cmd::Open).await.unwrap();
    account
        .ask_with(
            Cmd::deposit_many(1, 2),
            AskOptions::new().command_id("cmd-9"),
        )
        .await
        .unwrap();
    let events = store.inner.get_events("Account|cid", 2).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.command_id.as_deref() == Some("cmd-9")));
}
