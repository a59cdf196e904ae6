//! The store traits: [`EventStore`] and [`SnapshotStore`].
//!
//! These are the seed's `EventStore` and `SnapshotStore` interfaces, async. aether ships
//! an in-memory store ([`InMemoryStore`](crate::InMemoryStore)) and durable ones in their
//! own crates; anyone can write another and check it with the conformance suite
//! (`aether_core::testkit`, feature `testkit`).
//!
//! # Version semantics
//!
//! An actor's events carry strictly increasing versions. A save whose version is not
//! strictly greater than the actor's latest stored version fails with
//! [`StoreError::VersionConflict`]; version 0 and negative versions therefore always
//! conflict. Gaps are allowed: 1, 5, 9 is a valid history. This is the optimistic
//! concurrency check that keeps an actor's history linear when two writers (two
//! processes, two nodes) hold the same actor.
//!
//! # Using a store as a trait object
//!
//! Both traits are object safe: `Arc<dyn EventStore>` and `Arc<dyn SnapshotStore>` are
//! what the runtime holds, and `Arc<S>` / `Box<S>` of any store are stores themselves.
//!
//! ```
//! use std::sync::Arc;
//! use aether_core::{EventStore, InMemoryStore, SnapshotStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn SnapshotStore> = Arc::new(InMemoryStore::new());
//! assert_eq!(store.get_latest_version("account-1").await.unwrap(), 0);
//! assert!(store.get_latest_snapshot("account-1").await.unwrap().is_none());
//! # });
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::{ActorSnapshot, Event, StoreError};

/// Persistence of actors' events, with optimistic concurrency on versions.
///
/// Implementations must be safe to call from many tasks at once.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Persists one event.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] if `event.version` is not strictly greater than
    /// the actor's latest version; [`StoreError::InvalidInput`] for an empty actor id.
    async fn save_event(&self, event: &Event) -> Result<(), StoreError> {
        self.save_events(std::slice::from_ref(event)).await
    }

    /// Persists a batch of one actor's events, atomically: all of them or none.
    ///
    /// The versions must increase strictly inside the batch and the first must be
    /// strictly greater than the actor's latest. An empty batch does nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] if the first version is not greater than the
    /// latest; [`StoreError::InvalidInput`] for a batch that mixes actors, is not
    /// strictly increasing, or has an empty actor id. Nothing is stored on error.
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError>;

    /// [`save_events`](EventStore::save_events), taking the events by value, for
    /// callers that have no further use for them (the runtime, when no one subscribes to
    /// its event bus). The default borrows them; a store that keeps `Event` values (such
    /// as [`InMemoryStore`](crate::InMemoryStore)) overrides it to move them instead of
    /// copying. Same contract and errors as `save_events`.
    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.save_events(&events).await
    }

    /// Reads an actor's events with `version >= from_version`, ascending by version.
    ///
    /// An unknown actor has no events: the result is empty, not an error.
    async fn get_events(&self, actor_id: &str, from_version: i64)
        -> Result<Vec<Event>, StoreError>;

    /// The actor's latest stored version; 0 for an unknown actor.
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError>;
}

/// An [`EventStore`] that also keeps snapshots of actors' state.
#[async_trait]
pub trait SnapshotStore: EventStore {
    /// The snapshot with the highest version for the actor, or `None`.
    ///
    /// "Latest" means highest version, not most recently saved.
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError>;

    /// Saves a snapshot. Saving one with a lower version than the stored latest does not
    /// change which snapshot is the latest.
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError>;
}

/// Checks what every store must check of a batch before touching its backend, and
/// returns the actor the batch belongs to (`None` for an empty batch).
///
/// Refuses, with [`StoreError::InvalidInput`]: an empty actor id, a batch that mixes
/// actors, versions that do not strictly increase inside the batch. It does not compare
/// with the stored latest version; that is the store's atomic check.
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
    }
    Ok(Some(actor_id))
}

/// Refuses an empty actor id on reads, with an error naming the version read from.
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

macro_rules! forward_store {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<S: EventStore + ?Sized> EventStore for $ptr<S> {
            async fn save_event(&self, event: &Event) -> Result<(), StoreError> {
                (**self).save_event(event).await
            }
            async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
                (**self).save_events(events).await
            }
            async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
                (**self).append_events(events).await
            }
            async fn get_events(
                &self,
                actor_id: &str,
                from_version: i64,
            ) -> Result<Vec<Event>, StoreError> {
                (**self).get_events(actor_id, from_version).await
            }
            async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
                (**self).get_latest_version(actor_id).await
            }
        }

        #[async_trait]
        impl<S: SnapshotStore + ?Sized> SnapshotStore for $ptr<S> {
            async fn get_latest_snapshot(
                &self,
                actor_id: &str,
            ) -> Result<Option<ActorSnapshot>, StoreError> {
                (**self).get_latest_snapshot(actor_id).await
            }
            async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
                (**self).save_snapshot(snapshot).await
            }
        }
    )*};
}

forward_store!(Arc, Box);
