//! [`InMemoryStore`]: a [`SnapshotStore`] in process memory, for tests and examples.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use dashmap::mapref::one::RefMut;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

use crate::feed::validate_projection_name;
use crate::{
    validate_actor_id, validate_batch, validate_feed_read, ActorSnapshot, CheckpointStore, Event,
    EventFeed, EventStore, FeedError, FeedEvent, FeedFilter, FeedPage, Position, SnapshotStore,
    StoreError,
};

/// A store that keeps everything in memory and loses it when dropped.
///
/// Writers to different actors do not contend on one lock: actors are spread over the
/// shards of a [`DashMap`], and a save holds only its actor's shard for the time of a
/// version check and a push. Clones of the store are not shared; wrap it in an `Arc` to
/// share it.
///
/// It is also an [`EventFeed`] (a save appends its events to one global log, in the order
/// saves happen; the feed position of the n-th event stored is `n:0`) and a
/// [`CheckpointStore`].
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
    log: Mutex<Vec<Arc<Event>>>,
    /// The log's length, stored while the log is locked (so it only grows).
    log_len: AtomicU64,
    /// Readers in `wait_for_events`: an append wakes them only when there are some, so
    /// a store nobody reads the feed of pays one atomic load per append for it.
    waiting: AtomicUsize,
    appended: Notify,
    checkpoints: DashMap<String, Position>,
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

    fn log(&self) -> MutexGuard<'_, Vec<Arc<Event>>> {
        // The log is only pushed to; a panic elsewhere cannot leave it half-written.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends checked events to the actor's history and to the feed, under the actor's
    /// shard lock.
    fn append(
        &self,
        mut history: RefMut<'_, String, History>,
        events: impl Iterator<Item = Event>,
    ) {
        let mut log = self.log();
        for event in events {
            let event = Arc::new(event);
            log.push(Arc::clone(&event));
            history.push(event);
        }
        self.log_len.store(log.len() as u64, SeqCst);
        drop(log);
        drop(history);
        // SeqCst: either a reader registered in `waiting` before the length above was
        // stored (and is woken here), or it reads the new length itself.
        if self.waiting.load(SeqCst) > 0 {
            self.appended.notify_waiters();
        }
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
    chunks: Vec<Vec<Arc<Event>>>,
}

impl History {
    fn latest(&self) -> i64 {
        self.chunks
            .last()
            .and_then(|chunk| chunk.last())
            .map_or(0, |e| e.version)
    }

    fn push(&mut self, event: Arc<Event>) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(event),
            _ => self.chunks.push(vec![event]),
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
            events.extend(chunk[skip..].iter().map(|e| Event::clone(e)));
        }
        events
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
            self.append(history, events.iter().cloned());
        }
        Ok(())
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        // Checked against a borrow, then moved in: no copy of the events.
        if let Some(history) = self.checked_history(&events)? {
            self.append(history, events.into_iter());
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

/// The feed position of the log's `i`-th event (0-based): `i + 1`, so that
/// [`Position::START`] comes before the first.
fn position_of(i: usize) -> Position {
    Position::new(i as u64 + 1, 0)
}

/// The log index of the first event after `after`.
fn first_index_after(after: Position) -> usize {
    // Positions are `n:0`; any `n:k` with k > 0 lies between event n and event n + 1.
    usize::try_from(after.commit()).unwrap_or(usize::MAX)
}

#[async_trait]
impl EventFeed for InMemoryStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        validate_feed_read(limit)?;
        let log = self.log();
        let start = first_index_after(after).min(log.len());
        let mut events = Vec::new();
        let mut next = after;
        for (i, event) in log.iter().enumerate().skip(start) {
            next = next.max(position_of(i));
            if filter.matches(event) {
                events.push(FeedEvent {
                    position: position_of(i),
                    event: Event::clone(event),
                });
                if events.len() == limit {
                    break;
                }
            }
        }
        Ok(FeedPage { events, next })
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let len = self.log_len.load(SeqCst);
        Ok(if len == 0 {
            Position::START
        } else {
            Position::new(len, 0)
        })
    }

    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let len = self.log_len.load(SeqCst);
        Ok(len.saturating_sub(after.commit()))
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        /// Counts a reader in `waiting` for as long as it waits (a dropped wait too).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        loop {
            let notified = self.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, SeqCst);
            let _waiting = Waiting(&self.waiting);
            if self.log_len.load(SeqCst) > after.commit() {
                return Ok(());
            }
            notified.await;
        }
    }
}

#[async_trait]
impl CheckpointStore for InMemoryStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        validate_projection_name(projection)?;
        Ok(self.checkpoints.get(projection).map(|p| *p))
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        validate_projection_name(projection)?;
        self.checkpoints.insert(projection.to_owned(), position);
        Ok(())
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        validate_projection_name(projection)?;
        self.checkpoints.remove(projection);
        Ok(())
    }
}
