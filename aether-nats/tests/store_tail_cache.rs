//! The remembered tails (`NatsStoreBuilder::tail_cache`): a save of an actor the handle
//! knows is one publish, and a tail made stale by another store (another process) never
//! costs a lost, doubled or wrongly versioned event, only a conflict or a retry.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aether_core::testkit::cases::event;
use aether_core::{EventStore, StoreError};
use aether_nats::NatsStore;

/// Messages this store's connection has sent so far (publishes and requests).
fn sent(store: &NatsStore) -> u64 {
    store
        .client()
        .statistics()
        .out_messages
        .load(Ordering::Relaxed)
}

/// A second handle on `namespace` with its own connection and the given cache size.
async fn store_with_cache(namespace: &str, tail_cache: usize) -> NatsStore {
    NatsStore::builder(common::nats_url())
        .namespace(namespace)
        .connect_timeout(Duration::from_secs(5))
        .tail_cache(tail_cache)
        .connect()
        .await
        .expect("the server answered a moment ago")
}

fn conflict(result: Result<(), StoreError>) -> (i64, i64) {
    match result {
        Err(StoreError::VersionConflict(c)) => (c.attempted_version, c.current_version),
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_of_a_known_actor_is_one_publish() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let actor = "known/1";
    // Unknown to the handle: the head is read, then the batch published.
    let before = sent(&store);
    store.save_event(&event(actor, 1)).await.unwrap();
    assert_eq!(sent(&store) - before, 2, "head read + publish");
    for version in 2..=5 {
        let before = sent(&store);
        store.save_event(&event(actor, version)).await.unwrap();
        assert_eq!(sent(&store) - before, 1, "version {version}: one publish");
    }

    // A new handle (a restarted process) that reads the actor back saves in one publish.
    let restarted = common::store_in(store.namespace()).await.unwrap();
    let before = sent(&restarted);
    assert_eq!(restarted.get_events(actor, 1).await.unwrap().len(), 5);
    // The head, then each batch before it by the sequence the later one names.
    assert_eq!(sent(&restarted) - before, 5, "one get per batch");
    let before = sent(&restarted);
    let tail = restarted.get_events(actor, 4).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.version).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(
        sent(&restarted) - before,
        2,
        "the head and the batch before it"
    );
    let before = sent(&restarted);
    restarted.save_event(&event(actor, 6)).await.unwrap();
    assert_eq!(sent(&restarted) - before, 1, "one publish after a read");
    // An actor never written: its (empty) read is remembered as well.
    assert!(restarted.get_events("fresh", 1).await.unwrap().is_empty());
    let before = sent(&restarted);
    restarted.save_event(&event("fresh", 1)).await.unwrap();
    assert_eq!(
        sent(&restarted) - before,
        1,
        "one publish after an empty read"
    );

    // Off: every save reads the head first.
    let uncached = store_with_cache(store.namespace(), 0).await;
    assert_eq!(uncached.get_latest_version(actor).await.unwrap(), 6);
    let before = sent(&uncached);
    uncached.save_event(&event(actor, 7)).await.unwrap();
    assert_eq!(
        sent(&uncached) - before,
        2,
        "cache off: head read + publish"
    );
    store.delete_namespace().await.unwrap();
}

/// Store A remembers actor X at version 3; store B (another process) appends behind its
/// back. A's saves must conflict with the exact current version or, for a batch still
/// ahead (a gap), land after B's; and the same the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_made_stale_by_another_store_gives_the_exact_conflict() {
    let Some(a) = common::fresh_store().await else {
        return;
    };
    let b = common::store_in(a.namespace()).await.unwrap();
    let actor = "stale.tail";
    let mine = [event(actor, 1), event(actor, 2), event(actor, 3)];
    a.save_events(&mine).await.unwrap();
    assert_eq!(b.get_latest_version(actor).await.unwrap(), 3);
    let theirs = [event(actor, 4), event(actor, 5)];
    b.save_events(&theirs).await.unwrap();

    // A still remembers 3: its save of 4 is refused by the server, then reported with
    // B's version.
    assert_eq!(conflict(a.save_event(&event(actor, 4)).await), (4, 5));
    assert_eq!(
        conflict(a.save_events(&[event(actor, 5), event(actor, 6)]).await),
        (5, 5)
    );
    // The conflict taught A where the subject ends: its next save is one publish.
    let sixth = event(actor, 6);
    let before = sent(&a);
    a.save_event(&sixth).await.unwrap();
    assert_eq!(sent(&a) - before, 1);

    // Now B is stale (it remembers 5). Same version: conflict naming 6.
    assert_eq!(conflict(b.save_event(&event(actor, 6)).await), (6, 6));
    // B, stale again after A's 7, with a batch ahead of it: written after 7.
    let seventh = event(actor, 7);
    a.save_event(&seventh).await.unwrap();
    let ninth = [event(actor, 9), event(actor, 10)];
    b.save_events(&ninth).await.unwrap();

    let history = a.get_events(actor, 1).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 9, 10]
    );
    let ids: Vec<&str> = history.iter().map(|e| e.id.as_str()).collect();
    let want: Vec<&str> = mine
        .iter()
        .chain(&theirs)
        .chain([&sixth, &seventh])
        .chain(&ninth)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        ids, want,
        "each version holds the event of the save that won it"
    );
    assert_eq!(history, b.get_events(actor, 1).await.unwrap());
    a.delete_namespace().await.unwrap();
}

/// Two stores (two processes' worth: their own connections and caches, one of them with
/// the cache off) each run an actor's loop on the same actor: save the next version,
/// and on a conflict take the version it names and try again. Every acknowledged save
/// is in the history once, at its version, and the history has no gap and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_one_actor_stay_linear() {
    let Some(first) = common::fresh_store().await else {
        return;
    };
    let second = common::store_in(first.namespace()).await.unwrap();
    let third = store_with_cache(first.namespace(), 0).await;
    const WINS: usize = 60;
    let actor = "contended";

    async fn writer(store: NatsStore, actor: &'static str) -> (Vec<(i64, String)>, usize) {
        let mut version = store.get_latest_version(actor).await.unwrap();
        let (mut won, mut conflicts) = (Vec::new(), 0);
        while won.len() < WINS {
            // Sometimes a batch of two, so tails move by more than one version.
            let batch: Vec<_> = (1..=1 + (won.len() % 3 == 0) as i64)
                .map(|i| event(actor, version + i))
                .collect();
            match store.save_events(&batch).await {
                Ok(()) => {
                    won.extend(batch.iter().map(|e| (e.version, e.id.clone())));
                    version = batch[batch.len() - 1].version;
                }
                Err(StoreError::VersionConflict(c)) => {
                    assert_eq!(c.attempted_version, version + 1);
                    assert!(c.current_version > version, "{c}");
                    conflicts += 1;
                    version = c.current_version;
                }
                Err(err) => panic!("{err}"),
            }
        }
        (won, conflicts)
    }

    let writers = [first.clone(), second, third].map(|s| tokio::spawn(writer(s, actor)));
    let mut acknowledged = Vec::new();
    let mut conflicts = 0;
    for w in writers {
        let (won, c) = w.await.unwrap();
        acknowledged.extend(won);
        conflicts += c;
    }
    acknowledged.sort();
    let history = first.get_events(actor, 1).await.unwrap();
    let stored: Vec<(i64, String)> = history.iter().map(|e| (e.version, e.id.clone())).collect();
    assert_eq!(
        stored, acknowledged,
        "the history is exactly the acknowledged saves"
    );
    let versions: Vec<i64> = history.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    let ids: HashSet<&str> = history.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), history.len(), "no event stored twice");
    eprintln!(
        "{} events from 3 writers, {conflicts} conflicts",
        history.len()
    );
    first.delete_namespace().await.unwrap();
}
