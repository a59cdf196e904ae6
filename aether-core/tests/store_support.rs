//! The helpers every store's implementation starts with (`encode_batch`,
//! `submit_write`): what they return for each input, and that a writer that is gone
//! gives the caller an error instead of a hang.

use std::time::Duration;

use aether_core::testkit::cases::event;
use aether_core::{encode_batch, submit_write, StoreError, WriteReply};
use tokio::sync::mpsc;

/// Every wait in these tests is bounded: a hang is a failure with a message.
const LIMIT: Duration = Duration::from_secs(5);

#[test]
fn encode_batch_names_actor_and_first_version_and_keeps_order() {
    let events = [event("a", 3), event("a", 4), event("a", 9)];
    let batch = encode_batch(&events, |e| Ok(e.version * 10))
        .unwrap()
        .expect("a non-empty batch");
    assert_eq!(batch.actor_id, "a");
    assert_eq!(batch.first_version, 3);
    assert_eq!(batch.events, vec![30, 40, 90]);
}

#[test]
fn encode_batch_of_nothing_is_none() {
    let batch = encode_batch(&[], |_| -> Result<(), StoreError> {
        panic!("nothing to encode")
    });
    assert!(batch.unwrap().is_none());
}

#[test]
fn encode_batch_validates_before_encoding() {
    let events = [event("a", 1), event("b", 2)];
    let err = encode_batch(&events, |_| -> Result<(), StoreError> {
        panic!("an invalid batch is not encoded")
    })
    .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
}

#[test]
fn encode_batch_returns_the_first_encoding_error() {
    let events = [event("a", 1), event("a", 2), event("a", 3)];
    let err = encode_batch(&events, |e| {
        if e.version >= 2 {
            Err(StoreError::serialization(&e.actor_id, e.version, "cannot"))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!((err.actor_id(), err.version()), ("a", 2), "{err}");
}

fn stopped() -> StoreError {
    StoreError::invalid_input("a", 1, "writer stopped")
}

#[tokio::test]
async fn submit_write_returns_the_writers_answer() {
    let (queue, mut requests) = mpsc::channel::<WriteReply>(1);
    let writer = tokio::spawn(async move {
        let reply = requests.recv().await.expect("one request");
        let _ = reply.send(Err(StoreError::version_conflict("a", 1, 4)));
    });
    let result = tokio::time::timeout(LIMIT, submit_write(&queue, |reply| reply, stopped))
        .await
        .expect("answered within the limit");
    let conflict = result.unwrap_err();
    assert_eq!(
        conflict.as_version_conflict().map(|c| c.current_version),
        Some(4),
        "{conflict}"
    );
    writer.await.unwrap();
}

#[tokio::test]
async fn submit_write_to_a_closed_queue_is_the_stopped_error() {
    let (queue, requests) = mpsc::channel::<WriteReply>(1);
    drop(requests);
    let result = tokio::time::timeout(LIMIT, submit_write(&queue, |reply| reply, stopped))
        .await
        .expect("answered within the limit");
    assert_eq!(result.unwrap_err().to_string(), stopped().to_string());
}

#[tokio::test]
async fn a_request_dropped_unanswered_is_the_stopped_error() {
    let (queue, mut requests) = mpsc::channel::<WriteReply>(1);
    let writer = tokio::spawn(async move {
        // The writer takes the request and drops it without answering (it died).
        drop(requests.recv().await);
    });
    let result = tokio::time::timeout(LIMIT, submit_write(&queue, |reply| reply, stopped))
        .await
        .expect("a dropped reply ends the wait");
    assert_eq!(result.unwrap_err().to_string(), stopped().to_string());
    writer.await.unwrap();
}
