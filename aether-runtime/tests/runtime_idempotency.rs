//! Idempotent command ids: a repeated id is not applied again, across passivation and
//! restarts.

mod common;

use std::sync::Arc;

use aether_core::EventStore;
use aether_runtime::{AskError, AskOptions, Runtime};
use common::{Account, Cmd, TestStore};

fn with_id(id: &str) -> AskOptions {
    AskOptions::new().command_id(id)
}

#[tokio::test]
async fn a_retried_command_id_gets_the_first_reply_and_is_not_applied_twice() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("idem");
    account
        .ask_with(Cmd::Open, with_id("open-1"))
        .await
        .unwrap();
    let first = account
        .ask_with(Cmd::deposit_many(10, 2), with_id("dep-1"))
        .await
        .unwrap();
    assert_eq!(first.balance, 20);
    // Another command, then the retry (say its reply was lost): it answers the first
    // reply, not the state now, and applies nothing.
    account
        .ask_with(Cmd::Deposit(5), with_id("dep-2"))
        .await
        .unwrap();
    let retried = account
        .ask_with(Cmd::deposit_many(10, 2), with_id("dep-1"))
        .await
        .unwrap();
    assert_eq!(retried, first, "the first reply, again");
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 25);
    let stored = store.inner.get_events("Account|idem", 1).await.unwrap();
    assert_eq!(stored.len(), 4, "nothing applied twice");
    // The versions of each id, without sending the command again.
    let dep1 = account.applied("dep-1").await.unwrap().unwrap();
    assert_eq!((dep1.first_version, dep1.last_version), (2, 3));
    let dep2 = account.applied("dep-2").await.unwrap().unwrap();
    assert_eq!((dep2.first_version, dep2.last_version), (4, 4));
    assert_eq!(account.applied("never-sent").await.unwrap(), None);
}

#[tokio::test]
async fn beyond_the_kept_replies_a_retry_gets_duplicate_with_the_versions() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).kept_replies(1).build();
    let account = runtime.actor::<Account>("idem-kept");
    account.ask(Cmd::Open).await.unwrap();
    account
        .ask_with(Cmd::deposit_many(10, 2), with_id("dep-1"))
        .await
        .unwrap();
    account
        .ask_with(Cmd::Deposit(1), with_id("dep-2"))
        .await
        .unwrap();
    // Only dep-2's reply is kept.
    let again = account
        .ask_with(Cmd::deposit_many(10, 2), with_id("dep-1"))
        .await
        .unwrap_err();
    match &again {
        AskError::Duplicate {
            actor_id,
            command_id,
            version,
            first_version,
        } => {
            assert_eq!(actor_id, "Account|idem-kept");
            assert_eq!(command_id, "dep-1");
            assert_eq!((*first_version, *version), (2, 3));
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert!(again.to_string().contains("versions 2 to 3"), "{again}");
    assert_eq!(
        account
            .ask_with(Cmd::Deposit(1), with_id("dep-2"))
            .await
            .unwrap()
            .balance,
        21
    );
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 21);
    // A different id is a different command.
    account
        .ask_with(Cmd::Deposit(10), with_id("dep-3"))
        .await
        .unwrap();
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 31);
}

#[tokio::test]
async fn command_ids_survive_a_restart_and_snapshots() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).snapshot_every(3).build();
    let account = runtime.actor::<Account>("idem-restart");
    account.ask(Cmd::Open).await.unwrap();
    account
        .ask_with(Cmd::Deposit(5), with_id("pay-1"))
        .await
        .unwrap();
    for _ in 0..10 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    runtime.shutdown().await;

    // A fresh runtime (another process, after a crash) over the same store: the
    // snapshot is past pay-1's event, yet the id is still known.
    let runtime = Runtime::builder(store.clone()).snapshot_every(3).build();
    let account = runtime.actor::<Account>("idem-restart");
    let again = account
        .ask_with(Cmd::Deposit(5), with_id("pay-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            AskError::Duplicate {
                version: 2,
                first_version: 2,
                ..
            }
        ),
        "{again:?}"
    );
    // The client reconciling after the crash can ask without sending the command.
    let applied = account.applied("pay-1").await.unwrap().unwrap();
    assert_eq!((applied.first_version, applied.last_version), (2, 2));
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 15);
}

#[tokio::test]
async fn ids_older_than_the_window_are_forgotten() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone())
        .idempotency_window(5)
        .build();
    let account = runtime.actor::<Account>("idem-window");
    account.ask(Cmd::Open).await.unwrap();
    account
        .ask_with(Cmd::Deposit(1), with_id("old"))
        .await
        .unwrap();
    for _ in 0..5 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    // Version 7 now; "old" is at version 2, outside a window of 5 (versions 3..=7).
    account
        .ask_with(Cmd::Deposit(1), with_id("old"))
        .await
        .unwrap();
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 7);
}

#[tokio::test]
async fn a_command_id_applied_by_another_writer_is_detected_after_catching_up() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("idem-two-writers");
    account.ask(Cmd::Open).await.unwrap();
    // Another process applied command "x" at version 2.
    let mut theirs = common::external_event(
        "Account|idem-two-writers",
        2,
        &common::AccountEvent::Deposited { amount: 9 },
    );
    theirs.command_id = Some("x".into());
    store.inner.save_event(&theirs).await.unwrap();
    let err = account
        .ask_with(Cmd::Deposit(9), with_id("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AskError::Duplicate { version: 2, .. }),
        "{err:?}"
    );
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 9);
}

/// Rehydration reads only the events after the snapshot; the command ids folded into the
/// snapshot are read on the first command that carries an id.
#[tokio::test]
async fn command_ids_in_the_snapshot_are_loaded_only_when_needed() {
    use std::sync::atomic::Ordering;

    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).snapshot_every(10).build();
    let account = runtime.actor::<Account>("idem-lazy");
    account.ask(Cmd::Open).await.unwrap();
    account
        .ask_with(Cmd::Deposit(1), with_id("early"))
        .await
        .unwrap();
    for _ in 0..30 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    runtime.shutdown().await;

    let runtime = Runtime::builder(store.clone()).snapshot_every(10).build();
    let account = runtime.actor::<Account>("idem-lazy");
    let reads = store.get_events_calls.load(Ordering::SeqCst);
    assert_eq!(account.ask(Cmd::Deposit(1)).await.unwrap().balance, 32);
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        reads + 1,
        "only the tail read"
    );
    let again = account
        .ask_with(Cmd::Deposit(1), with_id("early"))
        .await
        .unwrap_err();
    assert!(
        matches!(again, AskError::Duplicate { version: 2, .. }),
        "{again:?}"
    );
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        reads + 2,
        "one read for the ids"
    );
    account
        .ask_with(Cmd::Deposit(1), with_id("late"))
        .await
        .unwrap();
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        reads + 2,
        "ids loaded once"
    );
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 33);
}

/// A conflict rebuilds the actor from the store; the command ids it already knew are
/// kept, so a command with an id costs no second read of the idempotency window.
#[tokio::test]
async fn a_rebuild_after_a_conflict_keeps_the_known_command_ids() {
    use std::sync::atomic::Ordering;

    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).snapshot_every(10).build();
    let account = runtime.actor::<Account>("idem-conflict");
    account.ask(Cmd::Open).await.unwrap();
    for n in 0..25 {
        account
            .ask_with(Cmd::Deposit(1), with_id(&format!("dep-{n}")))
            .await
            .unwrap();
    }
    // Another writer appends version 27.
    let theirs = common::external_event(
        "Account|idem-conflict",
        27,
        &common::AccountEvent::Deposited { amount: 100 },
    );
    store.inner.save_event(&theirs).await.unwrap();
    let reads = store.get_events_calls.load(Ordering::SeqCst);
    let state = account
        .ask_with(Cmd::Deposit(1), with_id("after-conflict"))
        .await
        .unwrap();
    assert_eq!(state.balance, 126);
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        reads + 1,
        "one read: the tail after the snapshot; the known ids are not read again"
    );
    // And they are still recognised.
    assert!(account.applied("dep-0").await.unwrap().is_some());
    let again = account
        .ask_with(Cmd::Deposit(1), with_id("dep-24"))
        .await
        .unwrap();
    assert_eq!(again.balance, 25, "the first reply of dep-24");
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 126);
}
