//! Many appends to one actor at once, on one store (the seed's Go API lets callers do
//! this): every call returns promptly, with success or a version conflict.
//!
//! The group-commit writers take at most one batch per actor into a group and carry the
//! others to their next group. A writer with carried batches once waited for the queue
//! while another writer held it waiting for new input, so the carried batches (and their
//! callers) waited until some other append came along: with no other traffic, forever.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aether_core::{EventStore, StoreError};
use serde_json::json;
use tokio::task::JoinSet;

const WRITERS: i64 = 8;
const ROUNDS: usize = 20;
/// Far above what one append takes, far below the store's operation timeout (which is
/// raised below, so that a stalled append shows up as a stall and not as a timeout error).
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// Each round, 8 tasks append versions `v+1 ..= v+8` of one actor at once: every call
/// returns within the deadline, the accepted versions are stored once each in ascending
/// order, the refused ones get a version conflict, and the latest version is the highest
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_to_one_actor_all_return() {
    let (builder, schema, app) = common::fresh_builder();
    let store = match builder
        .operation_timeout(Duration::from_secs(600))
        .connect()
        .await
    {
        Ok(store) => common::TestStore { store, schema, app },
        Err(err) => return common::unreachable("connect", err).unwrap_or(()),
    };
    let actor = "crowded".to_owned();
    store
        .save_event(&common::event(&actor, 1, json!({ "round": 0 })))
        .await
        .expect("first event");
    let mut accepted_all = vec![1_i64];
    let mut latest = 1;
    for round in 1..=ROUNDS {
        let mut calls = JoinSet::new();
        for version in latest + 1..=latest + WRITERS {
            let store = store.store.clone();
            let event = common::event(&actor, version, json!({ "round": round }));
            calls.spawn(async move {
                let result = tokio::time::timeout(CALL_DEADLINE, store.save_event(&event)).await;
                (version, result)
            });
        }
        let mut accepted = BTreeSet::new();
        while let Some(joined) = calls.join_next().await {
            let (version, result) = joined.expect("append task");
            match result {
                Err(_) => panic!(
                    "round {round}: save_event of {actor:?} version {version} did not return \
                     within {CALL_DEADLINE:?}"
                ),
                Ok(Ok(())) => {
                    accepted.insert(version);
                }
                Ok(Err(StoreError::VersionConflict(conflict))) => {
                    assert_eq!(conflict.actor_id, actor);
                    assert_eq!(conflict.attempted_version, version);
                    assert!(
                        conflict.current_version >= version,
                        "round {round}: conflict at {version} reports current version {}",
                        conflict.current_version
                    );
                }
                Ok(Err(other)) => panic!("round {round}: version {version}: unexpected {other}"),
            }
        }
        let highest = *accepted
            .last()
            .unwrap_or_else(|| panic!("round {round}: no append was accepted"));
        accepted_all.extend(&accepted);
        latest = store.get_latest_version(&actor).await.unwrap();
        assert_eq!(
            latest, highest,
            "round {round}: latest is the highest accepted"
        );
    }
    let stored: Vec<i64> = store
        .get_events(&actor, 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(
        stored, accepted_all,
        "the history holds each accepted version once, ascending"
    );
}
