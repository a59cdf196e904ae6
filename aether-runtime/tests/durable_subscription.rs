//! The durable subscription: sees another runtime's events (the in-process bus does
//! not), what was written while it was closed, and again what it did not acknowledge.

mod common;

use std::sync::Arc;

use aether_core::{FeedFilter, InMemoryStore};
use aether_runtime::bus::DurableSubscription;
use aether_runtime::{Runtime, SubscriptionFilter};
use common::{Account, Cmd};

#[tokio::test]
async fn sees_other_runtimes_and_the_time_it_was_closed_and_redelivers_what_was_not_acked() {
    let store = Arc::new(InMemoryStore::new());
    // Two runtimes on one store: two processes sharing a database.
    let here = Runtime::new(store.clone());
    let elsewhere = Runtime::new(store.clone());
    let mut in_process = here.subscribe(SubscriptionFilter::All);
    let filter = FeedFilter::all().actor_type("Account");
    let mut durable =
        DurableSubscription::open("audit", store.clone(), store.clone(), filter.clone())
            .await
            .unwrap();

    let other = elsewhere.actor::<Account>("other");
    other.ask(Cmd::Open).await.unwrap();
    other.ask(Cmd::Deposit(5)).await.unwrap();
    let first = durable.recv().await.unwrap();
    let second = durable.recv().await.unwrap();
    assert_eq!(
        (first.event.actor_id.as_str(), first.event.version),
        ("Account|other", 1)
    );
    assert_eq!(second.event.version, 2);
    assert!(
        in_process.try_recv().is_err(),
        "the in-process bus does not see another runtime's events"
    );
    // Acknowledge what was received: both.
    durable.ack().await.unwrap();
    assert_eq!(durable.acknowledged(), Some(second.position));
    drop(durable);

    // Written while no subscription was open.
    other.ask(Cmd::Deposit(7)).await.unwrap();
    let mut durable = DurableSubscription::open("audit", store.clone(), store.clone(), filter)
        .await
        .unwrap();
    let third = durable.recv().await.unwrap();
    assert_eq!(
        third.event.version, 3,
        "resumes after the acknowledged event"
    );
    drop(durable);
    // Not acknowledged: received again.
    let mut again = DurableSubscription::open(
        "audit",
        store.clone(),
        store,
        FeedFilter::all().actor_type("Account"),
    )
    .await
    .unwrap();
    assert_eq!(again.recv().await.unwrap().event.id, third.event.id);
    here.shutdown().await;
    elsewhere.shutdown().await;
}
