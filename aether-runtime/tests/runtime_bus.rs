//! The event bus: filters, order, and explicit lag.

mod common;

use std::sync::Arc;

use aether_runtime::{BusError, Runtime, SubscriptionFilter};
use common::{Account, Cmd, Counter, TestStore};

#[tokio::test]
async fn subscribers_see_persisted_events_by_filter() {
    let runtime = Runtime::new(Arc::new(TestStore::default()));
    let mut all = runtime.subscribe(SubscriptionFilter::All);
    let mut accounts = runtime.subscribe(SubscriptionFilter::actor_type::<Account>());
    let mut one = runtime.subscribe(SubscriptionFilter::actor::<Account>("a"));
    let mut deposits = runtime.subscribe(SubscriptionFilter::event_type("Deposited"));

    let a = runtime.actor::<Account>("a");
    let b = runtime.actor::<Account>("b");
    a.ask(Cmd::Open).await.unwrap();
    b.ask(Cmd::Open).await.unwrap();
    a.ask(Cmd::deposit_many(4, 2)).await.unwrap();
    runtime.actor::<Counter>("a").ask(()).await.unwrap();
    // Rejected commands and queries publish nothing.
    assert!(b.ask(Cmd::Withdraw(100)).await.is_err());
    b.ask(Cmd::Get).await.unwrap();

    let drain = |sub: &mut aether_runtime::Subscription| {
        let mut seen = Vec::new();
        loop {
            match sub.try_recv() {
                Ok(p) => seen.push((
                    p.actor_type,
                    p.id.to_string(),
                    p.event.event_type.clone(),
                    p.event.version,
                )),
                Err(BusError::Empty) => return seen,
                Err(other) => panic!("{other}"),
            }
        }
    };
    let everything = drain(&mut all);
    assert_eq!(everything.len(), 5);
    assert_eq!(drain(&mut accounts).len(), 4);
    assert_eq!(
        drain(&mut one),
        vec![
            ("Account", "a".to_owned(), "Opened".to_owned(), 1),
            ("Account", "a".to_owned(), "Deposited".to_owned(), 2),
            ("Account", "a".to_owned(), "Deposited".to_owned(), 3),
        ]
    );
    // Counter's events are `Deposited` too.
    assert_eq!(drain(&mut deposits).len(), 3);
}

#[tokio::test]
async fn a_slow_subscriber_gets_an_explicit_lag_with_the_count() {
    let runtime = Runtime::builder(Arc::new(TestStore::default()))
        .bus_capacity(4)
        .build();
    let mut slow = runtime.subscribe(SubscriptionFilter::All);
    let account = runtime.actor::<Account>("lag");
    account.ask(Cmd::Open).await.unwrap();
    for _ in 0..9 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    // 10 events published, 4 kept: the first recv reports the 6 missed.
    assert_eq!(
        slow.recv().await.unwrap_err(),
        BusError::Lagged { missed: 6 }
    );
    let mut versions = Vec::new();
    while let Ok(p) = slow.try_recv() {
        versions.push(p.event.version);
    }
    assert_eq!(versions, [7, 8, 9, 10]);
}

/// With no subscriber the bus costs nothing: the records go to the store by value (no
/// copy kept for publishing); with one, they are kept and published.
#[tokio::test]
async fn without_subscribers_nothing_is_kept_for_the_bus() {
    use std::sync::atomic::Ordering;

    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("quiet");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(1)).await.unwrap();
    assert_eq!(
        store.append_events_calls.load(Ordering::SeqCst),
        2,
        "owned appends"
    );

    let mut sub = runtime.subscribe(SubscriptionFilter::All);
    account.ask(Cmd::Deposit(1)).await.unwrap();
    assert_eq!(
        store.append_events_calls.load(Ordering::SeqCst),
        2,
        "kept for the bus"
    );
    assert_eq!(sub.try_recv().unwrap().event.version, 3);
    drop(sub);
    account.ask(Cmd::Deposit(1)).await.unwrap();
    assert_eq!(store.append_events_calls.load(Ordering::SeqCst), 3);
}
