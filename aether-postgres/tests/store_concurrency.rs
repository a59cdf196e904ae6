//! Writers in several "processes" (separate stores, each with its own pool) racing on one
//! schema: the version check holds across them, gaps included.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aether_core::{Event, EventStore, StoreError};
use aether_postgres::PostgresStore;
use serde_json::json;

const STORES: usize = 4;

async fn stores() -> Option<(common::TestStore, Vec<PostgresStore>)> {
    let test = common::fresh_store().await?;
    let mut stores = vec![test.store.clone()];
    for _ in 1..STORES {
        stores.push(common::another_store(&test.schema, &test.app).await);
    }
    Some((test, stores))
}

/// 16 writers over 4 pools append batches of 1 to 3 events at `latest + 1`: every version
/// is acknowledged to exactly one writer and the stored history is gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_in_separate_pools_win_each_version_once() {
    let Some((_test, stores)) = stores().await else {
        return;
    };
    const WRITERS: usize = 16;
    const WINS: usize = 15;
    let actor = Arc::new("raced".to_owned());
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = stores[writer % STORES].clone();
            let actor = Arc::clone(&actor);
            tokio::spawn(async move {
                let mut won: Vec<Event> = Vec::new();
                let mut wins = 0;
                let mut conflicts = 0;
                while wins < WINS {
                    let latest = store.get_latest_version(&actor).await.unwrap();
                    let size = 1 + (writer + wins) % 3;
                    let batch: Vec<Event> = (1..=size as i64)
                        .map(|i| {
                            let mut e = common::event(&actor, latest + i, json!({ "w": writer }));
                            e.id = format!("w{writer}-{}", latest + i);
                            e
                        })
                        .collect();
                    match store.save_events(&batch).await {
                        Ok(()) => {
                            won.extend(batch);
                            wins += 1;
                        }
                        Err(StoreError::VersionConflict(c)) => {
                            assert_eq!(c.actor_id, *actor);
                            assert!(
                                c.current_version >= c.attempted_version,
                                "a conflict reports a current version at least the attempted: {c}"
                            );
                            conflicts += 1;
                        }
                        Err(other) => panic!("writer {writer}: {other}"),
                    }
                }
                (won, conflicts)
            })
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    let mut conflicts = 0;
    for task in tasks {
        let (won, c) = task.await.unwrap();
        conflicts += c;
        for e in won {
            assert!(
                acknowledged.insert(e.version, e.id).is_none(),
                "version acknowledged twice"
            );
        }
    }
    let stored = stores[1].get_events(&actor, 0).await.unwrap();
    let last = *acknowledged.keys().last().unwrap();
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "gapless history"
    );
    for e in &stored {
        assert_eq!(
            acknowledged[&e.version], e.id,
            "version {} holds its winner",
            e.version
        );
    }
    assert_eq!(stores[2].get_latest_version(&actor).await.unwrap(), last);
    eprintln!("{} versions, {conflicts} conflicts", stored.len());
}

/// Version 9 is always accepted; 6, 7 and 8 racing with it from other pools are accepted
/// only if they commit first, so the latest version ends at 9 and every refused one sees a
/// current version at least its own. Once 9 is acknowledged, 6 conflicts from every pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_version_never_lands_after_a_higher_one_across_pools() {
    let Some((_test, stores)) = stores().await else {
        return;
    };
    for round in 0..40 {
        let actor = format!("gap-{round}");
        let attempts: Vec<_> = [9_i64, 6, 7, 8]
            .into_iter()
            .enumerate()
            .map(|(i, version)| {
                let store = stores[(i + round) % STORES].clone();
                let actor = actor.clone();
                tokio::spawn(async move {
                    let result = store
                        .save_event(&common::event(&actor, version, json!(null)))
                        .await;
                    (version, result)
                })
            })
            .collect();
        let mut accepted = BTreeSet::new();
        for attempt in attempts {
            let (version, result) = attempt.await.unwrap();
            match result {
                Ok(()) => {
                    accepted.insert(version);
                }
                Err(StoreError::VersionConflict(c)) => {
                    assert!(c.current_version >= version, "round {round}: {c}")
                }
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert!(accepted.contains(&9), "round {round}: 9 is always accepted");
        assert_eq!(
            stores[round % STORES]
                .get_latest_version(&actor)
                .await
                .unwrap(),
            9,
            "round {round}: nothing landed after 9 (accepted {accepted:?})"
        );
        let stored: BTreeSet<i64> = stores[0]
            .get_events(&actor, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(stored, accepted, "round {round}: stored what was accepted");

        let late: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = store.clone();
                let actor = actor.clone();
                tokio::spawn(
                    async move { store.save_event(&common::event(&actor, 6, json!({}))).await },
                )
            })
            .collect();
        for attempt in late {
            match attempt.await.unwrap() {
                Err(StoreError::VersionConflict(c)) => {
                    assert_eq!((c.attempted_version, c.current_version), (6, 9))
                }
                other => panic!("round {round}: 6 after 9 must conflict, got {other:?}"),
            }
        }
    }
}

/// Many actors appended concurrently through several pools keep separate, complete
/// histories (group commit mixes actors in one statement but never their versions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_actors_through_several_pools_keep_their_own_histories() {
    let Some((_test, stores)) = stores().await else {
        return;
    };
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = stores[i % STORES].clone();
            tokio::spawn(async move {
                let actor = format!("many-{i}");
                let mut version = 0;
                for round in 0..5 {
                    let size = 1 + (i + round) % 4;
                    let batch: Vec<Event> = (0..size)
                        .map(|_| {
                            version += 1;
                            common::event(&actor, version, json!({ "i": i }))
                        })
                        .collect();
                    store.save_events(&batch).await.unwrap();
                }
                (actor, version)
            })
        })
        .collect();
    for task in tasks {
        let (actor, last) = task.await.unwrap();
        let events = stores[0].get_events(&actor, 0).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.version).collect::<Vec<_>>(),
            (1..=last).collect::<Vec<_>>()
        );
        assert!(events.iter().all(|e| e.actor_id == actor));
    }
}
