//! The store traits: [`EventStore`] and [`SnapshotStore`].
//!
//! These are the seed's `EventStore` and `SnapshotStore` interfaces, async. aether ships
//! an in-memory store ([`InMemoryStore`](crate::InMemoryStore)) and durable ones in their
//! own crates; anyone can write another and check it with the conformance suite
//! (`aether_core::testkit`, feature `testkit`).
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

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{ActorSnapshot, Event, EventRef, StoreError};

/// Persistence of actors' events, with optimistic concurrency on versions.
///
/// Implementations must be safe to call from many tasks at once.
///
/// # Version semantics
///
/// An actor's events carry strictly increasing versions. A save whose version is not
/// strictly greater than the actor's latest stored version fails with
/// [`StoreError::VersionConflict`]; version 0 and negative versions therefore always
/// conflict. Gaps are allowed: 1, 5, 9 is a valid history. This is the optimistic
/// concurrency check that keeps an actor's history linear when two writers (two
/// processes, two nodes) hold the same actor.
///
///
/// # Cancel safety
///
/// Callers drop store futures before they resolve: a timeout around a call, an aborted
/// task, a runtime shutting down. Each method's "Cancel safety" section says what the
/// caller may then assume, and so what a store must guarantee:
///
/// - **Writes** (`save_event`, `save_events`, `append_events`, `save_snapshot`) are not
///   cancel safe: once the future has been polled, dropping it leaves the write
///   undecided. It **may or may not be stored**, because it may already be on its way
///   to the backend (in a writer's queue, on the wire, in a transaction that commits).
///   A store must still keep a batch atomic (all of it or none of it, never a part),
///   must not leave anything behind that blocks later calls (a held lock, a half-open
///   transaction), and must answer later calls as usual. A caller that needs to know
///   reads [`get_latest_version`](EventStore::get_latest_version); writing the same
///   versions again conflicts if the first attempt was stored. This is also the case of
///   a [`StoreError::Backend`] whose acknowledgement was lost.
/// - **Reads** (`get_events`, `get_latest_version`, `get_latest_snapshot`) are cancel
///   safe: dropping the future changes nothing, and the same read can be made again.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Persists one event.
    ///
    /// # Errors
    ///
    /// [`StoreError::VersionConflict`] if `event.version` is not strictly greater than
    /// the actor's latest version; [`StoreError::InvalidInput`] for an empty actor id or
    /// data nested deeper than [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe. If the future is dropped before it resolves, the event may or
    /// may not be stored; read the actor's latest version to know. Saving the
    /// same versions again conflicts if it was. See
    /// [`EventStore`](EventStore#cancel-safety).
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
    /// strictly increasing, has an empty actor id, or holds data nested deeper than
    /// [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH) (which would not read back; see
    /// [`validate_batch`](crate::validate_batch)). Nothing is stored on error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe. If the future is dropped before it resolves, the batch may or
    /// may not be stored (all of it or none of it: a store never keeps a part); read the actor's latest version to know. Saving the
    /// same versions again conflicts if it was. See
    /// [`EventStore`](EventStore#cancel-safety).
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError>;

    /// [`save_events`](EventStore::save_events), taking the events by value, for
    /// callers that have no further use for them (the runtime, when no one subscribes to
    /// its event bus). The default borrows them; a store that keeps `Event` values (such
    /// as [`InMemoryStore`](crate::InMemoryStore)) overrides it to move them instead of
    /// copying. Same contract and errors as `save_events`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe. If the future is dropped before it resolves, the batch may or
    /// may not be stored (all of it or none of it); read the actor's latest version to know. Saving the
    /// same versions again conflicts if it was. See
    /// [`EventStore`](EventStore#cancel-safety).
    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.save_events(&events).await
    }

    /// Reads an actor's events with `version >= from_version`, ascending by version.
    ///
    /// An unknown actor has no events: the result is empty, not an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing; the read can be made again.
    async fn get_events(&self, actor_id: &str, from_version: i64)
        -> Result<Vec<Event>, StoreError>;

    /// Reads the same events as [`get_events`](EventStore::get_events) (`version >=
    /// from_version`, ascending) and lends each to `visit` instead of returning owned
    /// copies; `visit` returns [`ControlFlow::Break`] to stop early. This is what the
    /// runtime replays an actor with.
    ///
    /// The default calls `get_events`. A store that can lend its records without
    /// copying them, or that holds the payload as JSON text
    /// ([`EventData::Json`](crate::EventData::Json): the actor then decodes its event
    /// from the text, without a [`serde_json::Value`] in between), overrides it. An
    /// override must lend exactly what `get_events` returns (the conformance suite
    /// checks it), and should not hold a lock while `visit` runs: `visit` runs the
    /// actor's own code.
    ///
    /// # Errors
    ///
    /// As `get_events`. Stopping early is not an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing; the read can be made again.
    async fn replay_events(
        &self,
        actor_id: &str,
        from_version: i64,
        visit: &mut (dyn for<'e> FnMut(EventRef<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        for event in self.get_events(actor_id, from_version).await? {
            if visit(EventRef::from(&event)).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// The actor's latest stored version; 0 for an unknown actor.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing; the read can be made again.
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError>;
}

/// An [`EventStore`] that also keeps snapshots of actors' state.
#[async_trait]
pub trait SnapshotStore: EventStore {
    /// The snapshot with the highest version for the actor, or `None`.
    ///
    /// "Latest" means highest version, not most recently saved.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing; the read can be made again.
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError>;

    /// Saves a snapshot. Saving one with a lower version than the stored latest does not
    /// change which snapshot is the latest.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe. If the future is dropped before it resolves, the snapshot may or
    /// may not be stored; read the actor's latest snapshot to know. A snapshot is
    /// only a shortcut over the events, so saving it again is always safe. See
    /// [`EventStore`](EventStore#cancel-safety).
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError>;
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
            async fn replay_events(
                &self,
                actor_id: &str,
                from_version: i64,
                visit: &mut (dyn for<'e> FnMut(EventRef<'e>) -> ControlFlow<()> + Send),
            ) -> Result<(), StoreError> {
                (**self).replay_events(actor_id, from_version, visit).await
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
