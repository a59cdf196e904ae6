//! Members in one process (each with its own NATS connection): routing to the one owner,
//! errors across the wire, handover on join and leave without errors, failover of a
//! member that stops heartbeating, and the join errors.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_cluster::{Cluster, ClusterAskError, JoinError};
use aether_core::EventStore;
use common::{cleanup, fast, member, store, Counter, CounterCmd, CounterError};

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_from_every_member_reach_the_one_owner() {
    let ns = common::fresh_namespace("route");
    if store(&ns).await.is_none() {
        return;
    }
    let a = member(&ns, "a", fast()).await;
    let b = member(&ns, "b", fast()).await;
    let c = member(&ns, "c", fast()).await;
    common::all_see(&[&a, &b, &c], &["a", "b", "c"]).await;
    let actors = ids(30);
    for id in &actors {
        for m in [&a, &b, &c] {
            m.actor::<Counter>(id)
                .ask(CounterCmd::Add(1))
                .await
                .unwrap();
        }
    }
    let mut owners = BTreeMap::new();
    for id in &actors {
        let owner = a.actor::<Counter>(id).owner().unwrap();
        assert_eq!(b.actor::<Counter>(id).owner().unwrap(), owner);
        assert_eq!(c.actor::<Counter>(id).owner().unwrap(), owner);
        *owners.entry(owner).or_insert(0) += 1;
        assert_eq!(
            c.actor::<Counter>(id).ask(CounterCmd::Get).await.unwrap(),
            3
        );
        // One history, written by one owner: versions 1..=3, no conflict.
        let events = a
            .store()
            .get_events(&format!("Counter|{id}"), 1)
            .await
            .unwrap();
        assert_eq!(
            events.iter().map(|e| e.version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
    assert_eq!(
        owners.len(),
        3,
        "30 actors spread over the 3 members: {owners:?}"
    );
    // Each actor lives on its owner only.
    let served: usize = [&a, &b, &c].iter().map(|m| m.served_shards()).sum();
    let shards: std::collections::BTreeSet<u32> = actors
        .iter()
        .map(|id| a.actor::<Counter>(id).shard())
        .collect();
    assert_eq!(served, shards.len());
    // The domain's error crosses the wire typed, from a member that is not the owner.
    let id = actors
        .iter()
        .find(|id| a.actor::<Counter>(id.as_str()).owner().unwrap() != "a")
        .unwrap();
    match a.actor::<Counter>(id).ask(CounterCmd::Add(5_000)).await {
        Err(ClusterAskError::Rejected {
            error, actor_id, ..
        }) => {
            assert_eq!(
                error,
                CounterError::TooBig {
                    n: 5_000,
                    limit: 1_000
                }
            );
            assert_eq!(actor_id, format!("Counter|{id}"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // A command id applied remotely is not applied again from another member.
    let counter = b.actor::<Counter>(id);
    counter
        .ask_with_id(CounterCmd::Add(10), "once")
        .await
        .unwrap();
    let again = c
        .actor::<Counter>(id)
        .ask_with_id(CounterCmd::Add(10), "once")
        .await;
    assert!(
        matches!(again, Ok(13) | Err(ClusterAskError::Duplicate { .. })),
        "{again:?}"
    );
    assert_eq!(
        a.actor::<Counter>(id).ask(CounterCmd::Get).await.unwrap(),
        13
    );
    for m in [&a, &b, &c] {
        m.leave().await;
    }
    cleanup(&ns).await;
}

/// Load from two members while a third joins and then one leaves: no ask fails, and
/// every acknowledged add is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_graceful_leave_lose_nothing_and_fail_nothing() {
    let ns = common::fresh_namespace("handover");
    if store(&ns).await.is_none() {
        return;
    }
    let a = member(&ns, "a", fast()).await;
    let b = member(&ns, "b", fast()).await;
    common::all_see(&[&a, &b], &["a", "b"]).await;
    let actors = Arc::new(ids(40));
    let acked = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for (w, m) in [a.clone(), b.clone()].into_iter().enumerate() {
        let (actors, acked) = (actors.clone(), acked.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let worker = tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut i = w;
            while !flag.load(Ordering::Relaxed) {
                let id = &actors[i % actors.len()];
                match m.actor::<Counter>(id).ask(CounterCmd::Add(1)).await {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => errors.push(err.to_string()),
                }
                i += 7;
            }
            errors
        });
        workers.push((stop, worker));
    }
    let wait_for_load = |n: u64| {
        let acked = acked.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            let start = acked.load(Ordering::Relaxed);
            while acked.load(Ordering::Relaxed) < start + n {
                assert!(Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for_load(100).await;
    let c = member(&ns, "c", fast()).await;
    common::all_see(&[&a], &["a", "b", "c"]).await;
    wait_for_load(100).await;
    assert!(c.served_shards() > 0, "the joiner serves some shards");
    // A's own load stops, then A leaves while B keeps sending.
    let (stop_a, worker_a) = workers.remove(0);
    stop_a.store(true, Ordering::Relaxed);
    let errors = worker_a.await.unwrap();
    assert!(errors.is_empty(), "asks through a failed: {errors:?}");
    a.leave().await;
    common::all_see(&[&b], &["b", "c"]).await;
    wait_for_load(100).await;
    for (stop, worker) in workers {
        stop.store(true, Ordering::Relaxed);
        let errors = worker.await.unwrap();
        assert!(errors.is_empty(), "asks failed: {errors:?}");
    }
    // Every acknowledged add is in the store once, and the state is its replay.
    let mut total = 0;
    for id in actors.iter() {
        let events = b
            .store()
            .get_events(&format!("Counter|{id}"), 1)
            .await
            .unwrap();
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=events.len() as i64).collect::<Vec<_>>());
        let served = c.actor::<Counter>(id).ask(CounterCmd::Get).await.unwrap();
        assert_eq!(served, events.len() as u64, "state == replay for {id}");
        total += events.len() as u64;
    }
    assert_eq!(total, acked.load(Ordering::Relaxed));
    b.leave().await;
    c.leave().await;
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_fails_over() {
    let ns = common::fresh_namespace("failover");
    if store(&ns).await.is_none() {
        return;
    }
    let a = member(&ns, "a", fast()).await;
    let b = member(&ns, "b", fast()).await;
    common::all_see(&[&a], &["a", "b"]).await;
    let id = (0..100)
        .map(|i| format!("f{i}"))
        .find(|id| a.actor::<Counter>(id).owner().as_deref() == Some("b"))
        .unwrap();
    a.actor::<Counter>(&id)
        .ask(CounterCmd::Add(2))
        .await
        .unwrap();
    // B vanishes without leaving (its tasks end, as when its process is killed).
    drop(b);
    let dropped = Instant::now();
    // An ask that was in flight to B when it vanished ends with `Unreachable`; retried
    // with its command id it applies once.
    let counter = a.actor::<Counter>(&id);
    let served = loop {
        match counter.ask_with_id(CounterCmd::Add(3), "after-b").await {
            Err(ClusterAskError::Unreachable { command_id, .. }) => {
                assert_eq!(command_id, "after-b")
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(served, 5);
    let took = dropped.elapsed();
    assert!(
        took < Duration::from_millis(1_500),
        "failover took {took:?}"
    );
    assert_eq!(a.members(), ["a"]);
    a.leave().await;
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_errors_say_what_is_wrong() {
    let ns = common::fresh_namespace("joinerr");
    let Some(first) = store(&ns).await else {
        return;
    };
    let a = Cluster::builder(first, "a")
        .config(fast())
        .join()
        .await
        .unwrap();
    let again = Cluster::builder(store(&ns).await.unwrap(), "a")
        .config(fast())
        .join()
        .await;
    match again {
        Err(err @ JoinError::NodeIdInUse { .. }) => {
            assert!(err.to_string().contains("\"a\" is in use"), "{err}")
        }
        other => panic!("expected NodeIdInUse, got {other:?}"),
    }
    let mismatch = Cluster::builder(store(&ns).await.unwrap(), "b")
        .config(fast().shard_count(32))
        .join()
        .await;
    match mismatch {
        Err(
            err @ JoinError::ShardCountMismatch {
                ours: 32,
                theirs: 64,
                ..
            },
        ) => {
            assert!(err.to_string().contains("shard_count"), "{err}")
        }
        other => panic!("expected ShardCountMismatch, got {other:?}"),
    }
    let invalid = Cluster::builder(store(&ns).await.unwrap(), "no spaces")
        .join()
        .await;
    assert!(
        matches!(invalid, Err(JoinError::InvalidNodeId { .. })),
        "{invalid:?}"
    );
    let unreachable = Cluster::connect("nats://127.0.0.1:1", &ns, "z").await;
    match unreachable {
        Err(err @ JoinError::Connect { .. }) => {
            assert!(err.to_string().contains("127.0.0.1:1"), "{err}")
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    // After a leave, the node id is free at once.
    a.leave().await;
    let a2 = Cluster::builder(store(&ns).await.unwrap(), "a")
        .config(fast())
        .join()
        .await
        .unwrap();
    a2.leave().await;
    cleanup(&ns).await;
}

/// The store's feed (a durable subscription) sees the events of every member, and a
/// cluster on another namespace is another cluster (the same node ids join both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_subscription_sees_every_members_events_and_namespaces_are_apart() {
    use aether_core::FeedFilter;
    use aether_runtime::bus::DurableSubscription;

    let ns = common::fresh_namespace("feed");
    let Some(reader) = store(&ns).await else {
        return;
    };
    let a = member(&ns, "a", fast()).await;
    let b = member(&ns, "b", fast()).await;
    common::all_see(&[&a], &["a", "b"]).await;
    let other_ns = common::fresh_namespace("feed-other");
    let other_a = member(&other_ns, "a", fast()).await;
    assert_eq!(other_a.members(), ["a"]);
    // One actor owned by each member, both asked through `a`.
    let mut by_owner = BTreeMap::new();
    for i in 0..100 {
        let id = format!("d{i}");
        let owner = a.actor::<Counter>(&id).owner().unwrap();
        by_owner.entry(owner).or_insert(id);
        if by_owner.len() == 2 {
            break;
        }
    }
    for id in by_owner.values() {
        a.actor::<Counter>(id)
            .ask(CounterCmd::Add(1))
            .await
            .unwrap();
    }
    other_a
        .actor::<Counter>("elsewhere")
        .ask(CounterCmd::Add(1))
        .await
        .unwrap();
    let reader = Arc::new(reader);
    let filter = FeedFilter::all().actor_type("Counter");
    let mut subscription = DurableSubscription::open("audit", reader.clone(), reader, filter)
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
            .await
            .expect("the feed delivers")
            .unwrap();
        seen.insert(event.event.actor_id);
    }
    let expected: std::collections::BTreeSet<String> = by_owner
        .values()
        .map(|id| format!("Counter|{id}"))
        .collect();
    assert_eq!(seen, expected, "owners {by_owner:?}");
    for m in [&a, &b, &other_a] {
        m.leave().await;
    }
    cleanup(&ns).await;
    cleanup(&other_ns).await;
}
