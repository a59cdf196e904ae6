//! Messages the store cannot decode are `StoreError::Serialization` naming actor and
//! version, never a panic.

mod common;

use aether_core::{EventStore, SnapshotStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_an_actor_subject_is_a_serialization_error() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let js = async_nats::jetstream::new(store.client().clone());
    let actor = "broken.actor";
    let subject = store.layout().event_subject(actor).unwrap();

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Aether-First-Version", "7");
    headers.insert("Aether-Last-Version", "7");
    js.publish_with_headers(subject.clone(), headers, "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();

    match store.get_events(actor, 0).await {
        Err(StoreError::Serialization {
            actor_id,
            version,
            reason,
        }) => {
            assert_eq!(actor_id, actor);
            assert_eq!(version, 7);
            assert!(reason.contains("message"), "{reason}");
        }
        other => panic!("expected a serialization error, got {other:?}"),
    }

    // Without the headers the latest version needs the payload: also an error, not 0.
    let other = "headerless";
    let subject = store.layout().event_subject(other).unwrap();
    js.publish(subject, "[1, 2]".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(matches!(
        store.get_latest_version(other).await,
        Err(StoreError::Serialization { ref actor_id, .. }) if actor_id == other
    ));

    // A broken snapshot value.
    let kv = js
        .get_key_value(store.layout().snapshot_bucket())
        .await
        .unwrap();
    let key = aether_nats::subject::encode_actor_id(actor).unwrap();
    kv.put(key, "{\"version\": 3, \"state\": ".into())
        .await
        .unwrap();
    assert!(matches!(
        store.get_latest_snapshot(actor).await,
        Err(StoreError::Serialization { ref actor_id, .. }) if actor_id == actor
    ));
    // It does not block the next snapshot: that one replaces it.
    let fresh = aether_core::ActorSnapshot {
        actor_id: actor.to_owned(),
        version: 2,
        state: serde_json::json!({ "balance": 1 }),
        timestamp: chrono::Utc::now(),
    };
    store.save_snapshot(&fresh).await.unwrap();
    assert_eq!(store.get_latest_snapshot(actor).await.unwrap(), Some(fresh));

    store.delete_namespace().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_too_long_to_encode_are_invalid_input() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let id = ".".repeat(1000);
    assert!(matches!(
        store.get_latest_version(&id).await,
        Err(StoreError::InvalidInput { .. })
    ));
    store.delete_namespace().await.unwrap();
}
