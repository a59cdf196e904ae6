//! An actor written with `#[derive(Actor)]` and `#[aether::commands]`, end to end on an
//! in-memory runtime.

mod common;

use std::sync::Arc;

use aether::{AskError, AskOptions, EventSourced, EventStore};
use common::{Account, AccountCommands, AccountError};

#[test]
fn derive_sets_actor_type_and_snapshot_policy() {
    assert_eq!(Account::ACTOR_TYPE, "Account");
    assert_eq!(Account::SNAPSHOT_EVERY, Some(100));
}

#[tokio::test]
async fn typed_methods_persist_events_and_reply() {
    let store = Arc::new(aether::InMemoryStore::new());
    let runtime = aether::Runtime::new(store.clone());
    let account = runtime.actor::<Account>("a1");

    account.open("ada".to_owned()).await.unwrap();
    account.deposit(100).await.unwrap();
    assert_eq!(account.withdraw(30).await.unwrap(), 70);
    assert_eq!(account.balance().await.unwrap(), 70);

    let events = store.get_events("Account|a1", 1).await.unwrap();
    let stored: Vec<_> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.data.clone()))
        .collect();
    assert_eq!(
        stored,
        [
            ("Opened", serde_json::json!({"owner": "ada"})),
            ("Deposited", serde_json::json!({"amount": 100})),
            ("Withdrawn", serde_json::json!({"amount": 30})),
        ]
    );
    let seed_shape = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(seed_shape["eventType"], "Deposited");
    assert_eq!(seed_shape["data"], serde_json::json!({"amount": 100}));
    assert_eq!(seed_shape["actorId"], "Account|a1");
    runtime.shutdown().await;
}

#[tokio::test]
async fn domain_errors_come_back_rejected() {
    let runtime = aether::testkit::in_memory_runtime();
    let account = runtime.actor::<Account>("a2");

    let err = account.deposit(5).await.unwrap_err();
    assert!(
        matches!(err.rejection(), Some(AccountError::NotOpen)),
        "{err}"
    );

    account.open("bob".to_owned()).await.unwrap();
    match account.withdraw(10).await {
        Err(AskError::Rejected { error, .. }) => {
            assert_eq!(
                error,
                AccountError::Insufficient {
                    balance: 0,
                    asked: 10
                }
            )
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn with_methods_take_a_command_id() {
    let runtime = aether::testkit::in_memory_runtime();
    let account = runtime.actor::<Account>("a3");
    account.open("cy".to_owned()).await.unwrap();

    let once = AskOptions::new().command_id("deposit-1");
    account.deposit_with(10, once.clone()).await.unwrap();
    // A retry gets the first reply; the deposit is applied once.
    account.deposit_with(10, once.clone()).await.unwrap();
    assert_eq!(account.balance().await.unwrap(), 10);
    let applied = account.applied("deposit-1").await.unwrap().unwrap();
    assert_eq!((applied.first_version, applied.last_version), (2, 2));

    let timed = AskOptions::new().timeout(std::time::Duration::from_secs(5));
    assert_eq!(account.balance_with(timed).await.unwrap(), 10);
    runtime.shutdown().await;
}

#[tokio::test]
async fn the_command_enum_works_with_plain_ask() {
    let runtime = aether::testkit::in_memory_runtime();
    let account = runtime.actor::<Account>("a4");
    let reply = account
        .ask(common::AccountCommand::Open { owner: "di".into() })
        .await
        .unwrap();
    assert!(matches!(reply, common::AccountReply::Open(())));
    assert_eq!(
        format!("{:?}", common::AccountCommand::Deposit { amount: 1 }),
        "AccountCommand::Deposit"
    );
    runtime.shutdown().await;
}

#[test]
fn handles_and_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let runtime = aether::testkit::in_memory_runtime;
    let _ = runtime;
    fn assert_future(account: &aether::ActorRef<Account>) {
        send(account.deposit(1));
        send(account.balance());
    }
    let _ = assert_future;
}
