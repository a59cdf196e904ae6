//! A second `NatsStore` (its own connection, as another process would have) writing to
//! the same namespace is always seen by the first: what a store remembers of an actor's
//! tail is checked by the server on every save (see also `store_tail_cache.rs`).

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

/// The one protection of a NATS history against a lost update is the server-side
/// expected-last-subject-sequence check. A second connection lands its append in the
/// gap between the first writer's head read and its publish (held open by the
/// `pause_next_publish` test hook), every round: the first writer's append of the same
/// version must end in `VersionConflict` naming the real current version, and the
/// history must hold the second writer's event only. A batch still ahead of the new
/// head (a gap) is written after it. Without the expected-sequence header on the
/// publish, both writers would win the same version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_between_head_read_and_publish_is_a_conflict_every_time() {
    use std::time::Duration;

    let Some(first) = common::fresh_store().await else {
        return;
    };
    let Some(second) = common::store_in(first.namespace()).await else {
        return;
    };
    let actor = "interleaved";
    const ROUNDS: i64 = 10;
    const WITHIN: Duration = Duration::from_secs(10);
    let mut expected = Vec::new();
    for round in 0..ROUNDS {
        // Round 0 writes the actor's first event: the paused publish expects "no message".
        let current = first.get_latest_version(actor).await.unwrap();
        let mut pause = first.pause_next_publish();
        let stale = tokio::spawn({
            let first = first.clone();
            let batch = [event(actor, current + 1), event(actor, current + 2)];
            async move { first.save_events(&batch).await }
        });
        assert!(
            tokio::time::timeout(WITHIN, pause.reached())
                .await
                .unwrap_or_else(|_| panic!(
                    "round {round}: the first writer never reached its publish"
                )),
            "round {round}: pause lost"
        );
        let winner = event(actor, current + 1);
        tokio::time::timeout(WITHIN, second.save_event(&winner))
            .await
            .expect("the second writer hangs")
            .unwrap_or_else(|e| panic!("round {round}: the second writer: {e}"));
        expected.push(winner.id.clone());
        drop(pause);
        let outcome = tokio::time::timeout(WITHIN, stale)
            .await
            .expect("the paused writer hangs after its release")
            .unwrap();
        match outcome {
            Err(StoreError::VersionConflict(conflict)) => {
                assert_eq!(conflict.actor_id, actor);
                assert_eq!(conflict.attempted_version, current + 1);
                assert_eq!(conflict.current_version, current + 1, "round {round}");
            }
            other => panic!(
                "round {round}: an append interleaved between head read and publish must \
                 conflict, got {other:?}"
            ),
        }
    }
    // A batch still ahead of the interleaved write (gaps are allowed) lands after it.
    let current = first.get_latest_version(actor).await.unwrap();
    let mut pause = first.pause_next_publish();
    let ahead = tokio::spawn({
        let first = first.clone();
        let batch = [event(actor, current + 3)];
        async move { first.save_events(&batch).await }
    });
    assert!(tokio::time::timeout(WITHIN, pause.reached())
        .await
        .expect("the first writer never reached its publish"));
    let between = event(actor, current + 1);
    second.save_event(&between).await.unwrap();
    drop(pause);
    tokio::time::timeout(WITHIN, ahead)
        .await
        .expect("the paused writer hangs")
        .unwrap()
        .expect("a batch ahead of the new head is written after it");

    let history = second.get_events(actor, 0).await.unwrap();
    let versions: Vec<i64> = history.iter().map(|e| e.version).collect();
    let mut want: Vec<i64> = (1..=ROUNDS).collect();
    want.extend([ROUNDS + 1, ROUNDS + 3]);
    assert_eq!(versions, want, "one event per version, no lost update");
    let ids: Vec<&str> = history[..ROUNDS as usize]
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        ids,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "every contested version holds the interleaved writer's event"
    );
    assert_eq!(history[ROUNDS as usize].id, between.id);
    first.delete_namespace().await.unwrap();
}
