//! A second `NatsStore` (its own connection, as another process would have) writing to
//! the same namespace is always seen by the first: nothing is cached in process.

mod common;

use aether_core::testkit::cases::event;
use aether_core::{ActorSnapshot, EventStore, SnapshotStore, StoreError};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_writer_conflicts_with_another_connection() {
    let Some(first) = common::fresh_store().await else {
        return;
    };
    let Some(second) = common::store_in(first.namespace()).await else {
        return;
    };
    let actor = "account/1.with dots";

    first
        .save_events(&[event(actor, 1), event(actor, 2)])
        .await
        .unwrap();
    // The second instance writes behind the first one's back.
    assert_eq!(second.get_latest_version(actor).await.unwrap(), 2);
    second.save_event(&event(actor, 3)).await.unwrap();

    // The first still believes the actor is at 2; its append of 3 must conflict, and the
    // conflict must report the real current version.
    match first.save_event(&event(actor, 3)).await {
        Err(StoreError::VersionConflict(conflict)) => {
            assert_eq!(conflict.actor_id, actor);
            assert_eq!(conflict.attempted_version, 3);
            assert_eq!(conflict.current_version, 3);
        }
        other => panic!("the stale append must conflict, got {other:?}"),
    }
    // A stale batch conflicts whole and stores nothing.
    let err = first
        .save_events(&[event(actor, 2), event(actor, 3), event(actor, 4)])
        .await
        .unwrap_err();
    assert_eq!(err.as_version_conflict().unwrap().current_version, 3);

    // Both see the same history: 1, 2 from the first, 3 from the second.
    let history = first.get_events(actor, 0).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(history, second.get_events(actor, 0).await.unwrap());

    // Snapshots: the highest version wins whichever instance wrote it.
    let snapshot = |version| ActorSnapshot {
        actor_id: actor.to_owned(),
        version,
        state: json!({ "v": version }),
        timestamp: chrono::Utc::now(),
    };
    second.save_snapshot(&snapshot(3)).await.unwrap();
    first.save_snapshot(&snapshot(2)).await.unwrap();
    assert_eq!(
        first
            .get_latest_snapshot(actor)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );

    first.delete_namespace().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_instances_never_both_win_a_version() {
    let Some(first) = common::fresh_store().await else {
        return;
    };
    let Some(second) = common::store_in(first.namespace()).await else {
        return;
    };
    let actor = "raced";
    for round in 1..=50i64 {
        let (mine, theirs) = (event(actor, round), event(actor, round));
        let (a, b) = tokio::join!(first.save_event(&mine), second.save_event(&theirs));
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|&&ok| ok).count();
        assert_eq!(wins, 1, "round {round}: exactly one instance wins");
        for result in [a, b] {
            if let Err(err) = result {
                assert_eq!(err.as_version_conflict().unwrap().current_version, round);
            }
        }
    }
    assert_eq!(first.get_events(actor, 0).await.unwrap().len(), 50);
    first.delete_namespace().await.unwrap();
}
