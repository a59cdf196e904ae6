//! The store: its writes, its reads and its snapshots.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use dashmap::mapref::one::RefMut;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

use super::history::{lend_all, History, Record};
use crate::{
    validate_actor_id, validate_batch, ActorSnapshot, Event, EventRef, EventStore, Position,
    SnapshotStore, StoreError,
};

/// A store that keeps everything in memory and loses it when dropped.
///
/// Writers to different actors do not contend on one lock: actors are spread over the
/// shards of a [`DashMap`], and a save holds only its actor's shard for the time of a
/// version check and a push. Clones of the store are not shared; wrap it in an `Arc` to
/// share it.
///
/// It is also an [`EventFeed`](crate::EventFeed) (a save appends its events to one global log, in the order
/// saves happen; the feed position of the n-th event stored is `n:0`) and a
/// [`CheckpointStore`](crate::CheckpointStore).
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
pub struct InMemoryStore {
    events: DashMap<String, History>,
    snapshots: DashMap<String, ActorSnapshot>,
    /// Every event in the order saves happened: the feed. Pushed to while the saving
    /// actor's shard is locked, so an actor's events are in version order here too.
    pub(super) log: Mutex<Vec<Arc<Record>>>,
    /// The log's length, stored while the log is locked (so it only grows).
    pub(super) log_len: AtomicU64,
    /// Readers in `wait_for_events`: an append wakes them only when there are some, so
    /// a store nobody reads the feed of pays one atomic load per append for it.
    pub(super) waiting: AtomicUsize,
    pub(super) appended: Notify,
    pub(super) checkpoints: DashMap<String, Position>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        InMemoryStore {
            events: DashMap::new(),
            snapshots: DashMap::new(),
            log: Mutex::new(Vec::new()),
            log_len: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            appended: Notify::new(),
            checkpoints: DashMap::new(),
        }
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn log(&self) -> MutexGuard<'_, Vec<Arc<Record>>> {
        // The log is only pushed to; a panic elsewhere cannot leave it half-written.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends checked events to the actor's history and to the feed, under the actor's
    /// shard lock. All of them or none: every record is made before the first is pushed.
    fn append(
        &self,
        mut history: RefMut<'_, String, History>,
        events: impl Iterator<Item = Event>,
    ) -> Result<(), StoreError> {
        let records = events
            .map(|event| history.record(event).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let mut log = self.log();
        for record in records {
            log.push(Arc::clone(&record));
            history.push(record);
        }
        self.log_len.store(log.len() as u64, SeqCst);
        drop(log);
        drop(history);
        // SeqCst: either a reader registered in `waiting` before the length above was
        // stored (and is woken here), or it reads the new length itself.
        if self.waiting.load(SeqCst) > 0 {
            self.appended.notify_waiters();
        }
        Ok(())
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
            None => self
                .events
                .entry(actor_id.to_owned())
                .or_insert_with(|| History::new(actor_id)),
        };
        let current = history.latest();
        if first <= current {
            return Err(StoreError::version_conflict(actor_id, first, current));
        }
        Ok(Some(history))
    }
}

impl InMemoryStore {
    fn records_from(&self, actor_id: &str, from_version: i64) -> Vec<Arc<Record>> {
        self.events
            .get(actor_id)
            .map_or_else(Vec::new, |history| history.records_from(from_version))
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("actors", &self.events.len())
            .field("snapshots", &self.snapshots.len())
            .field("feed_len", &self.log_len.load(SeqCst))
            .finish()
    }
}

#[async_trait]
impl EventStore for InMemoryStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        if let Some(history) = self.checked_history(events)? {
            self.append(history, events.iter().cloned())?;
        }
        Ok(())
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        // Checked against a borrow, then moved in: no copy of the events.
        if let Some(history) = self.checked_history(&events)? {
            self.append(history, events.into_iter())?;
        }
        Ok(())
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        validate_actor_id(actor_id, from_version)?;
        self.records_from(actor_id, from_version)
            .iter()
            .map(|record| record.to_event())
            .collect()
    }

    async fn replay_events(
        &self,
        actor_id: &str,
        from_version: i64,
        visit: &mut (dyn for<'e> FnMut(EventRef<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        validate_actor_id(actor_id, from_version)?;
        // Shared out under the shard lock, lent after it is released.
        lend_all(&self.records_from(actor_id, from_version), visit);
        Ok(())
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
