//! [`InMemoryStore`]: a [`SnapshotStore`] in process memory, for tests and examples.

use std::fmt;

use async_trait::async_trait;
use dashmap::mapref::one::RefMut;
use dashmap::DashMap;

use crate::{
    validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError,
};

/// A store that keeps everything in memory and loses it when dropped.
///
/// Writers to different actors do not contend on one lock: actors are spread over the
/// shards of a [`DashMap`], and a save holds only its actor's shard for the time of a
/// version check and a push. Clones of the store are not shared; wrap it in an `Arc` to
/// share it.
///
/// # Examples
///
/// ```
/// use aether_core::{Event, EventStore, InMemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let event = Event {
///     id: "evt-1".into(),
///     event_type: "Opened".into(),
///     actor_id: "account-1".into(),
///     command_id: None,
///     version: 1,
///     data: serde_json::json!({ "owner": "Ada" }),
///     timestamp: chrono::Utc::now(),
/// };
/// store.save_event(&event).await.unwrap();
/// assert_eq!(store.get_latest_version("account-1").await.unwrap(), 1);
/// assert!(store.save_event(&event).await.unwrap_err().is_version_conflict());
/// # });
/// ```
#[derive(Default)]
pub struct InMemoryStore {
    events: DashMap<String, History>,
    snapshots: DashMap<String, ActorSnapshot>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates a batch and checks its first version against the actor's latest; on
    /// success returns the actor's history, locked for the append (`None`: empty batch).
    fn checked_history(
        &self,
        events: &[Event],
    ) -> Result<Option<RefMut<'_, String, History>>, StoreError> {
        let Some(actor_id) = validate_batch(events)? else {
            return Ok(None);
        };
        let first = events[0].version;
        // Look up before inserting, so a known actor's append allocates no key.
        let history = match self.events.get_mut(actor_id) {
            Some(history) => history,
            None => self.events.entry(actor_id.to_owned()).or_default(),
        };
        let current = history.latest();
        if first <= current {
            return Err(StoreError::version_conflict(actor_id, first, current));
        }
        Ok(Some(history))
    }
}

/// Events per chunk of an actor's history: an append never moves more than this many
/// events when its chunk grows, so a long history costs no long pause under the lock.
const CHUNK: usize = 1_024;

/// One actor's events in ascending version order, in chunks of at most [`CHUNK`].
#[derive(Debug, Default)]
struct History {
    chunks: Vec<Vec<Event>>,
}

impl History {
    fn latest(&self) -> i64 {
        self.chunks
            .last()
            .and_then(|chunk| chunk.last())
            .map_or(0, |e| e.version)
    }

    fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            match self.chunks.last_mut() {
                Some(chunk) if chunk.len() < CHUNK => chunk.push(event),
                _ => self.chunks.push(vec![event]),
            }
        }
    }

    fn events_from(&self, from: i64) -> Vec<Event> {
        // Chunks are never empty.
        let first = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|e| e.version < from));
        let mut events = Vec::new();
        for (i, chunk) in self.chunks[first..].iter().enumerate() {
            let skip = if i == 0 {
                chunk.partition_point(|e| e.version < from)
            } else {
                0
            };
            events.extend_from_slice(&chunk[skip..]);
        }
        events
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("actors", &self.events.len())
            .field("snapshots", &self.snapshots.len())
            .finish()
    }
}

#[async_trait]
impl EventStore for InMemoryStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        if let Some(mut history) = self.checked_history(events)? {
            history.extend(events.iter().cloned());
        }
        Ok(())
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        // Checked against a borrow, then moved in: no copy of the events.
        if let Some(mut history) = self.checked_history(&events)? {
            history.extend(events);
        }
        Ok(())
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        validate_actor_id(actor_id, from_version)?;
        Ok(self
            .events
            .get(actor_id)
            .map_or_else(Vec::new, |history| history.events_from(from_version)))
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        validate_actor_id(actor_id, 0)?;
        Ok(self
            .events
            .get(actor_id)
            .map_or(0, |history| history.latest()))
    }
}

#[async_trait]
impl SnapshotStore for InMemoryStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        validate_actor_id(actor_id, 0)?;
        Ok(self.snapshots.get(actor_id).map(|s| s.clone()))
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        validate_actor_id(&snapshot.actor_id, snapshot.version)?;
        self.snapshots
            .entry(snapshot.actor_id.clone())
            .and_modify(|latest| {
                if snapshot.version >= latest.version {
                    *latest = snapshot.clone();
                }
            })
            .or_insert_with(|| snapshot.clone());
        Ok(())
    }
}
