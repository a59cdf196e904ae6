//! What every store's implementation starts with, written once: the checks of a batch
//! and of a read ([`validate_batch`], [`validate_actor_id`]), the opening of
//! `save_events` ([`encode_batch`]), and handing a write to a writer task or thread and
//! waiting for its answer ([`submit_write`]).
//!
//! The stores of this repository use them, and so may a third-party store: with them,
//! a store's `save_events` reads
//!
//! ```
//! use aether_core::{encode_batch, submit_write, Event, StoreError, WriteReply};
//! use tokio::sync::mpsc;
//!
//! /// What the store's writer task receives.
//! struct Append {
//!     actor_id: String,
//!     rows: Vec<String>,
//!     reply: WriteReply,
//! }
//!
//! /// The writer stopped (its task ended); a write in flight may or may not be stored.
//! #[derive(Debug, thiserror::Error)]
//! #[error("the writer task has stopped")]
//! struct WriterStopped;
//!
//! async fn save_events(queue: &mpsc::Sender<Append>, events: &[Event]) -> Result<(), StoreError> {
//!     // Validate, encode each event, name the actor and the first version.
//!     let Some(batch) = encode_batch(events, |event| {
//!         serde_json::to_string(event)
//!             .map_err(|err| StoreError::serialization(&event.actor_id, event.version, err))
//!     })?
//!     else {
//!         return Ok(()); // an empty batch does nothing
//!     };
//!     let (actor_id, first) = (batch.actor_id, batch.first_version);
//!     // Queue it with a reply channel, and wait for the writer's answer.
//!     submit_write(
//!         queue,
//!         |reply| Append { actor_id: actor_id.to_owned(), rows: batch.events, reply },
//!         || StoreError::backend(actor_id, first, WriterStopped),
//!     )
//!     .await
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // The writer: here it only prints what it would store, then answers.
//! let (queue, mut requests) = mpsc::channel::<Append>(64);
//! tokio::spawn(async move {
//!     while let Some(Append { actor_id, rows, reply }) = requests.recv().await {
//!         println!("{actor_id}: {rows:?}");
//!         let _ = reply.send(Ok(()));
//!     }
//! });
//! let event = Event {
//!     id: "evt-1".into(),
//!     event_type: "Opened".into(),
//!     actor_id: "account-1".into(),
//!     command_id: None,
//!     version: 1,
//!     data: serde_json::json!({}),
//!     timestamp: chrono::Utc::now(),
//! };
//! save_events(&queue, &[event]).await.unwrap();
//! drop(queue);
//! # });
//! ```

use tokio::sync::{mpsc, oneshot};

use crate::{check_payload_depth, Event, StoreError};

/// Checks what every store must check of a batch before touching its backend, and
/// returns the actor the batch belongs to (`None` for an empty batch).
///
/// Refuses, with [`StoreError::InvalidInput`] naming the actor and the version: an empty
/// actor id, a batch that mixes actors, versions that do not strictly increase inside
/// the batch, data nested deeper than [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH)
/// ([`check_payload_depth`]; such data would not read back). It does not compare with
/// the stored latest version; that is the store's atomic check.
///
/// O(size of the batch): the depth check walks each event's data once, without
/// recursion, and stops at the first level beyond the limit.
///
/// ```
/// use aether_core::{validate_batch, Event, StoreError};
///
/// let event = |actor: &str, version| Event {
///     id: format!("e{version}"),
///     event_type: "Noted".into(),
///     actor_id: actor.into(),
///     command_id: None,
///     version,
///     data: serde_json::json!({}),
///     timestamp: chrono::Utc::now(),
/// };
/// assert_eq!(validate_batch(&[event("a", 1), event("a", 3)]).unwrap(), Some("a"));
/// assert!(matches!(
///     validate_batch(&[event("a", 1), event("b", 2)]),
///     Err(StoreError::InvalidInput { .. })
/// ));
/// ```
pub fn validate_batch(events: &[Event]) -> Result<Option<&str>, StoreError> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let actor_id = first.actor_id.as_str();
    if actor_id.is_empty() {
        return Err(StoreError::invalid_input(
            actor_id,
            first.version,
            "actor id must not be empty",
        ));
    }
    check_depth(first)?;
    for pair in events.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        if next.actor_id != actor_id {
            return Err(StoreError::invalid_input(
                actor_id,
                next.version,
                format!(
                    "a batch must hold one actor's events, but it also holds actor {:?}",
                    next.actor_id
                ),
            ));
        }
        if next.version <= prev.version {
            return Err(StoreError::invalid_input(
                actor_id,
                next.version,
                format!(
                    "versions must strictly increase inside a batch, but {} follows {}",
                    next.version, prev.version
                ),
            ));
        }
        check_depth(next)?;
    }
    Ok(Some(actor_id))
}

/// The depth check of [`validate_batch`], for one event.
fn check_depth(event: &Event) -> Result<(), StoreError> {
    check_payload_depth(&event.data)
        .map_err(|err| StoreError::invalid_input(&event.actor_id, event.version, err.to_string()))
}

/// The read guard of every store: refuses an empty actor id, with an error naming the
/// version read from (0 for `get_latest_version` and `get_latest_snapshot`), before the
/// backend is asked.
///
/// # Errors
///
/// [`StoreError::InvalidInput`] for an empty actor id.
pub fn validate_actor_id(actor_id: &str, version: i64) -> Result<(), StoreError> {
    if actor_id.is_empty() {
        Err(StoreError::invalid_input(
            actor_id,
            version,
            "actor id must not be empty",
        ))
    } else {
        Ok(())
    }
}

/// A batch that passed [`validate_batch`] and was encoded for a backend, as
/// [`encode_batch`] returns it.
#[derive(Debug)]
#[non_exhaustive]
pub struct EncodedBatch<'a, T> {
    /// The actor the batch belongs to.
    pub actor_id: &'a str,
    /// The version of the batch's first event: the one the store's version check
    /// compares with the actor's latest, and the one its errors name.
    pub first_version: i64,
    /// The events, encoded, in the batch's order.
    pub events: Vec<T>,
}

/// The opening of every store's `save_events`: checks the batch ([`validate_batch`]),
/// encodes each event with `encode`, and names the actor and the first version.
///
/// `Ok(None)` for an empty batch, which a store stores nothing for. Nothing is written
/// here; the first error (of the checks, then of `encode`, in the batch's order) is
/// returned as is.
///
/// # Errors
///
/// [`StoreError::InvalidInput`] from [`validate_batch`]; whatever `encode` returns.
pub fn encode_batch<'a, T>(
    events: &'a [Event],
    encode: impl FnMut(&'a Event) -> Result<T, StoreError>,
) -> Result<Option<EncodedBatch<'a, T>>, StoreError> {
    let Some(actor_id) = validate_batch(events)? else {
        return Ok(None);
    };
    Ok(Some(EncodedBatch {
        actor_id,
        first_version: events[0].version,
        events: events.iter().map(encode).collect::<Result<_, _>>()?,
    }))
}

/// Where a store's writer sends the answer to one write request.
pub type WriteReply = oneshot::Sender<Result<(), StoreError>>;

/// Hands a write to a store's writer (a task or a thread that owns the write
/// connection) and waits for its answer: makes the reply channel, builds the request
/// around its sending half with `request`, queues it on `queue` (waiting for room when
/// the queue is full), then awaits the writer's answer.
///
/// When the writer is gone (the queue is closed, or the writer dropped the request
/// without answering), the result is the error `stopped` makes: usually a
/// [`StoreError::Backend`] naming the actor and version, saying the write may or may not
/// have been stored.
///
/// # Cancel safety
///
/// Not cancel safe, by nature: once the request is queued, dropping this future does
/// not withdraw it, and the writer may still store it. This is the "may or may not be
/// stored" case of [`EventStore::save_events`](crate::EventStore::save_events).
///
/// # Errors
///
/// The writer's own answer, or `stopped()`.
pub async fn submit_write<R>(
    queue: &mpsc::Sender<R>,
    request: impl FnOnce(WriteReply) -> R,
    stopped: impl Fn() -> StoreError,
) -> Result<(), StoreError> {
    let (reply, answer) = oneshot::channel();
    if queue.send(request(reply)).await.is_err() {
        return Err(stopped());
    }
    answer.await.unwrap_or_else(|_| Err(stopped()))
}
