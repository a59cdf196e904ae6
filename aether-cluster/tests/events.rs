//! The cluster's event bus, members in one process (each with its own NATS connection):
//! a subscriber on one member sees the events of every member's actors in each actor's
//! order, through a join that moves actors; filters apply; a slow subscriber is told how
//! many it missed; a subscriber sees nothing of another namespace.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_cluster::{Cluster, ClusterSubscription};
use aether_core::EventStore;
use aether_runtime::{BusError, Published, SubscriptionFilter};
use common::{cleanup, fast, member, store, Counter, CounterCmd};

const WAIT: Duration = Duration::from_secs(10);

/// The next `n` events of `subscription`, failing on a lag or after [`WAIT`].
async fn next_events(subscription: &mut ClusterSubscription, n: usize) -> Vec<Arc<Published>> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        match tokio::time::timeout(WAIT, subscription.recv()).await {
            Ok(Ok(event)) => events.push(event),
            Ok(Err(err)) => panic!("after {} of {n} events: {err}", events.len()),
            Err(_) => panic!("only {} of {n} events within {WAIT:?}", events.len()),
        }
    }
    events
}

/// The versions each actor's events came in, by actor id.
fn versions_by_actor(events: &[Arc<Published>]) -> BTreeMap<String, Vec<i64>> {
    let mut by_actor: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for published in events {
        assert_eq!(published.actor_type, "Counter");
        assert_eq!(
            published.event.actor_id,
            format!("Counter|{}", published.id)
        );
        by_actor
            .entry(published.id.to_string())
            .or_default()
            .push(published.event.version);
    }
    by_actor
}

async fn add_to_each(via: &Cluster, actors: &[String]) {
    for id in actors {
        via.actor::<Counter>(id)
            .ask(CounterCmd::Add(1))
            .await
            .unwrap_or_else(|err| panic!("add to {id} via {}: {err}", via.node()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_members_events_in_each_actors_order() {
    let ns = common::fresh_namespace("bus");
    if store(&ns).await.is_none() {
        return;
    }
    let a = member(&ns, "a", fast()).await;
    let b = member(&ns, "b", fast()).await;
    common::all_see(&[&a, &b], &["a", "b"]).await;
    let mut all = a.subscribe(SubscriptionFilter::All).await.unwrap();
    let mut one = b
        .subscribe(SubscriptionFilter::actor::<Counter>("c3"))
        .await
        .unwrap();
    let mut counters = a
        .subscribe(SubscriptionFilter::actor_type::<Counter>())
        .await
        .unwrap();
    let mut none = a
        .subscribe(SubscriptionFilter::event_type("NeverRecorded"))
        .await
        .unwrap();
    let actors: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let owners_before: Vec<String> = actors
        .iter()
        .map(|id| a.actor::<Counter>(id).owner().unwrap())
        .collect();
    assert!(owners_before.iter().any(|o| o == "a") && owners_before.iter().any(|o| o == "b"));
    add_to_each(&a, &actors).await;
    // A third member joins while the subscriptions run and asks keep coming: it forwards
    // too, and the actors that move to it keep their order across the handover.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (b, actors, stop) = (b.clone(), actors.clone(), Arc::clone(&stop));
        async move {
            while !stop.load(Ordering::Acquire) {
                add_to_each(&b, &actors).await;
            }
        }
    });
    let c = member(&ns, "c", fast()).await;
    common::all_see(&[&a, &b, &c], &["a", "b", "c"]).await;
    stop.store(true, Ordering::Release);
    load.await.unwrap();
    let moved = actors
        .iter()
        .filter(|id| a.actor::<Counter>(id.as_str()).owner().as_deref() == Some("c"))
        .count();
    assert!(moved > 0, "some of 20 actors move to the joiner");
    add_to_each(&c, &actors).await;
    add_to_each(&a, &actors).await;

    // Every stored event, once, each actor's in its order.
    let mut expected = BTreeMap::new();
    for id in &actors {
        let stored = a
            .store()
            .get_latest_version(&format!("Counter|{id}"))
            .await
            .unwrap();
        assert!(stored >= 4, "{id}: {stored}");
        expected.insert(id.clone(), (1..=stored).collect::<Vec<i64>>());
    }
    let total: usize = expected.values().map(Vec::len).sum();
    let seen = next_events(&mut all, total).await;
    assert_eq!(versions_by_actor(&seen), expected);
    let seen = next_events(&mut counters, total).await;
    assert_eq!(versions_by_actor(&seen), expected);
    let seen = next_events(&mut one, expected["c3"].len()).await;
    assert_eq!(
        versions_by_actor(&seen),
        BTreeMap::from([("c3".to_owned(), expected["c3"].clone())])
    );
    // The same hub handed `all` its events: the others have theirs already.
    assert_eq!(all.try_recv().unwrap_err(), BusError::Empty);
    assert_eq!(none.try_recv().unwrap_err(), BusError::Empty);
    assert_eq!(one.try_recv().unwrap_err(), BusError::Empty);

    // Leaving ends this member's subscriptions.
    a.leave().await;
    match tokio::time::timeout(WAIT, all.recv()).await {
        Ok(Err(BusError::Closed)) => {}
        other => panic!("expected the subscription to close, got {other:?}"),
    }
    assert!(matches!(
        a.subscribe(SubscriptionFilter::All).await,
        Err(aether_cluster::SubscribeError::Left { .. })
    ));
    b.leave().await;
    c.leave().await;
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_told_how_many_events_it_missed() {
    let ns = common::fresh_namespace("buslag");
    if store(&ns).await.is_none() {
        return;
    }
    let a = member(&ns, "a", fast().bus_capacity(8)).await;
    let b = member(&ns, "b", fast()).await;
    common::all_see(&[&a, &b], &["a", "b"]).await;
    let mut slow = a.subscribe(SubscriptionFilter::All).await.unwrap();
    // A reader that keeps up (or counts what it missed too) tells when all 40 arrived.
    let mut fast_reader = a.subscribe(SubscriptionFilter::All).await.unwrap();
    let counted = tokio::spawn(async move {
        let mut accounted = 0u64;
        while accounted < 40 {
            match tokio::time::timeout(WAIT, fast_reader.recv()).await {
                Ok(Ok(_)) => accounted += 1,
                Ok(Err(BusError::Lagged { missed })) => accounted += missed,
                other => panic!("after {accounted} of 40: {other:?}"),
            }
        }
        accounted
    });
    let actors: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    assert!(actors
        .iter()
        .any(|id| a.actor::<Counter>(id.as_str()).owner().as_deref() == Some("b")));
    for _ in 0..4 {
        add_to_each(&b, &actors).await;
    }
    assert_eq!(counted.await.unwrap(), 40);

    let mut missed = 0;
    let mut received = Vec::new();
    loop {
        match slow.try_recv() {
            Ok(event) => received.push(event),
            Err(BusError::Lagged { missed: n }) => missed += n,
            Err(BusError::Empty) => break,
            Err(err) => panic!("{err}"),
        }
    }
    assert!(
        missed >= 32,
        "40 events through a buffer of 8: missed {missed}"
    );
    assert_eq!(missed + received.len() as u64, 40);
    // What is left is the newest: each actor's last events, in order.
    for (id, versions) in versions_by_actor(&received) {
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{id}: {versions:?}"
        );
    }
    a.leave().await;
    b.leave().await;
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_nothing_of_another_namespace() {
    let ns_a = common::fresh_namespace("busa");
    let ns_b = common::fresh_namespace("busb");
    if store(&ns_a).await.is_none() {
        return;
    }
    let a = member(&ns_a, "x", fast()).await;
    // The same node id and actor ids in the other cluster.
    let b = member(&ns_b, "x", fast()).await;
    let mut in_a = a.subscribe(SubscriptionFilter::All).await.unwrap();
    let mut in_b = b.subscribe(SubscriptionFilter::All).await.unwrap();
    let actors: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    add_to_each(&b, &actors).await;
    // Cluster b's events were published on NATS (its own subscriber has them) ...
    assert_eq!(next_events(&mut in_b, 5).await.len(), 5);
    add_to_each(&a, &actors[..1]).await;
    // ... and the first event a's subscriber sees is a's own.
    let seen = next_events(&mut in_a, 1).await;
    assert_eq!(
        versions_by_actor(&seen),
        BTreeMap::from([("c0".to_owned(), vec![1])])
    );
    assert_eq!(in_a.try_recv().unwrap_err(), BusError::Empty);
    a.leave().await;
    b.leave().await;
    cleanup(&ns_a).await;
    cleanup(&ns_b).await;
}
