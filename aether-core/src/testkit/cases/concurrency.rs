//! Concurrency: every racing call returns, with success or a version conflict.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use crate::{EventStore, StoreError};

use super::support::*;

/// 50 actors written concurrently, 20 events each, keep their own histories.
pub async fn fifty_actors_written_concurrently<S: EventStore + ?Sized>(store: Arc<S>) {
    let base = actor("concurrent");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = format!("{base}-{i}");
            tokio::spawn(async move {
                for v in 1..=20 {
                    store.save_event(&event(&id, v)).await.unwrap();
                }
                id
            })
        })
        .collect();
    for task in tasks {
        let id = task.await.expect("writer task");
        let events = store.get_events(&id, 0).await.unwrap();
        assert_eq!(
            versions(&events),
            (1..=20).collect::<Vec<_>>(),
            "history of {id}"
        );
        assert!(events.iter().all(|e| e.actor_id == id));
    }
}

/// 16 writers race to append `latest + 1` to one actor, 25 wins each: every version is
/// won by exactly one writer and the history ends gapless, without duplicates.
pub async fn racing_writers_win_each_version_once<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 16;
    const WINS: usize = 25;
    let id = Arc::new(actor("raced"));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            let id = Arc::clone(&id);
            tokio::spawn(async move {
                let mut won = Vec::new();
                let mut conflicts = 0u64;
                while won.len() < WINS {
                    let latest = store.get_latest_version(&id).await.unwrap();
                    let mut e = event(&id, latest + 1);
                    e.data = json!({ "writer": writer });
                    match store.save_event(&e).await {
                        Ok(()) => won.push((e.version, e.id)),
                        Err(StoreError::VersionConflict(c)) => {
                            assert!(
                                c.current_version >= e.version,
                                "conflict reports a newer current version"
                            );
                            conflicts += 1;
                        }
                        Err(other) => panic!("writer {writer}: unexpected {other}"),
                    }
                    tokio::task::yield_now().await;
                }
                (won, conflicts)
            })
        })
        .collect();
    let mut claimed = BTreeSet::new();
    let mut by_version = std::collections::HashMap::new();
    for task in tasks {
        let (won, _conflicts) = task.await.expect("writer task");
        for (version, event_id) in won {
            assert!(
                claimed.insert(version),
                "version {version} acknowledged to two writers"
            );
            by_version.insert(version, event_id);
        }
    }
    let total = (WRITERS * WINS) as i64;
    assert_eq!(
        claimed,
        (1..=total).collect::<BTreeSet<_>>(),
        "acknowledged versions are gapless"
    );
    let stored = store.get_events(&id, 0).await.unwrap();
    assert_eq!(
        versions(&stored),
        (1..=total).collect::<Vec<_>>(),
        "stored history is gapless"
    );
    for e in stored {
        assert_eq!(
            by_version[&e.version], e.id,
            "version {} holds its winner's event",
            e.version
        );
    }
}

/// One actor at version `v`; 8 tasks at once append `v+1 ..= v+8`, one version each, for
/// 20 rounds. Every call returns (success or [`StoreError::VersionConflict`], nothing
/// else); a refused call's conflict reports a current version at or above the attempted
/// one; at least one call of each round wins; the history holds each accepted version
/// once, its winner's event, strictly ascending; the latest version is the highest
/// accepted.
pub async fn racing_distinct_versions_on_one_actor<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: i64 = 8;
    const ROUNDS: usize = 20;
    let id = Arc::new(actor("crowded"));
    let first = event(&id, 1);
    store.save_event(&first).await.unwrap();
    let mut accepted = vec![first];
    let mut latest = 1;
    for round in 1..=ROUNDS {
        let tasks: Vec<_> = (latest + 1..=latest + WRITERS)
            .map(|version| {
                let store = Arc::clone(&store);
                let e = event(&id, version);
                tokio::spawn(async move {
                    let result = store.save_event(&e).await;
                    (e, result)
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (e, result) = task.await.expect("appending task");
            match result {
                Ok(()) => won.push(e),
                Err(StoreError::VersionConflict(c)) => {
                    assert_eq!(c.actor_id, *id, "round {round}: conflict names the actor");
                    assert_eq!(c.attempted_version, e.version, "round {round}: attempted");
                    assert!(
                        c.current_version >= e.version,
                        "round {round}: the conflict at version {} reports current version {}",
                        e.version,
                        c.current_version
                    );
                }
                Err(other) => panic!("round {round}: version {}: unexpected {other}", e.version),
            }
        }
        let highest = won
            .last()
            .unwrap_or_else(|| panic!("round {round}: no append above version {latest} won"))
            .version;
        accepted.extend(won);
        latest = store.get_latest_version(&id).await.unwrap();
        assert_eq!(
            latest, highest,
            "round {round}: latest is the highest accepted"
        );
    }
    let stored = store.get_events(&id, 0).await.unwrap();
    assert!(
        stored.windows(2).all(|w| w[0].version < w[1].version),
        "history strictly ascends: {:?}",
        versions(&stored)
    );
    assert_eq!(
        versions(&stored),
        versions(&accepted),
        "the history holds exactly the accepted versions"
    );
    assert_eq!(stored, accepted, "each version holds its winner's event");
}

/// 8 tasks at once save the same next version of one actor, for 20 rounds: exactly one
/// wins; every other gets [`StoreError::VersionConflict`] whose current version is the
/// stored latest (at or above the attempted version, never below); the stored event is
/// the winner's.
pub async fn racing_same_version_has_one_winner<S: EventStore + ?Sized>(store: Arc<S>) {
    const WRITERS: usize = 8;
    const ROUNDS: i64 = 20;
    let id = Arc::new(actor("contested"));
    for version in 1..=ROUNDS {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                let mut e = event(&id, version);
                e.data = json!({ "writer": writer, "version": version });
                tokio::spawn(async move {
                    let result = store.save_event(&e).await;
                    (e, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            let (e, result) = task.await.expect("saving task");
            match result {
                Ok(()) => winners.push(e),
                Err(StoreError::VersionConflict(c)) => conflicts.push(c),
                Err(other) => panic!("version {version}: unexpected {other}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "version {version}: exactly one of {WRITERS} racing saves wins"
        );
        let stored_latest = store.get_latest_version(&id).await.unwrap();
        assert_eq!(stored_latest, version, "version {version}: latest");
        for c in conflicts {
            assert_eq!(
                c.actor_id, *id,
                "version {version}: conflict names the actor"
            );
            assert_eq!(c.attempted_version, version, "version {version}: attempted");
            assert_eq!(
                c.current_version, stored_latest,
                "version {version}: a loser's conflict reports the stored version"
            );
        }
        assert_eq!(
            store.get_events(&id, version).await.unwrap(),
            winners,
            "version {version} holds the winner's event"
        );
    }
}
