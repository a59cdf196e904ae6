//! [`SqliteStore`]: the store itself, and its [`EventStore`] / [`SnapshotStore`] impls.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aether_core::{
    encode_batch, submit_write, validate_actor_id, ActorSnapshot, Event, EventStore, SnapshotStore,
    StoreError,
};
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{encode_event, encode_snapshot};
use crate::feed::FeedSignal;
use crate::reader::{self, ReadPool};
use crate::writer::{Counters, Request};
use crate::{CloseError, OpenError, SqliteStoreBuilder, Synchronous};

/// The embedded event store: one SQLite file in WAL mode, one writer thread doing group
/// commit, a small pool of read connections.
///
/// See the [crate docs](crate) for what it writes and what an acknowledged append
/// survives. Share one store between tasks with an `Arc` (the runtime holds an
/// `Arc<dyn SnapshotStore>`). Dropping the last handle stops the writer thread once the
/// writes already queued are done; [`close`](SqliteStore::close) also waits for it.
///
/// # Examples
///
/// ```
/// use aether_core::{Event, EventStore};
/// use aether_sqlite::SqliteStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("events.db")).await?;
/// let event = Event {
///     id: "evt-1".into(),
///     event_type: "Opened".into(),
///     actor_id: "account-1".into(),
///     command_id: None,
///     version: 1,
///     data: serde_json::json!({ "owner": "Ada" }),
///     timestamp: chrono::Utc::now(),
/// };
/// store.save_event(&event).await?;
/// assert_eq!(store.get_latest_version("account-1").await?, 1);
/// assert_eq!(store.get_events("account-1", 1).await?, vec![event]);
/// store.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct SqliteStore {
    pub(crate) path: PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) reads: Arc<ReadPool>,
    pub(crate) counters: Arc<Counters>,
    /// The writer thread, then the checkpoint thread (which stops after the writer).
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    /// The highest committed seq known, for readers waiting for events.
    pub(crate) feed: FeedSignal,
    /// How long `wait_for_events` waits at most, for commits of other processes.
    pub(crate) feed_poll_interval: Duration,
    /// The busy budget, for the connections of projection sinks.
    pub(crate) busy_timeout: Duration,
    /// The builder's WAL checkpoint size, for the connections of projection sinks.
    pub(crate) wal_autocheckpoint: u32,
}

/// Counters of what a [`SqliteStore`] has committed since it was opened; see
/// [`SqliteStore::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Write transactions committed by the writer thread (each is one group commit).
    pub transactions: u64,
    /// Appends (`save_event` / `save_events` calls) acknowledged as stored.
    pub appends: u64,
    /// Events in those appends.
    pub events: u64,
    /// Appends refused with a version conflict.
    pub conflicts: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// WAL checkpoints run by the checkpoint thread, beside the writer.
    pub checkpoints: u64,
    /// WAL checkpoints the writer had to run itself, between two group commits, because
    /// the WAL reached 4 times its checkpoint size (the checkpoint thread could not keep
    /// up). Appends queued meanwhile wait for it.
    pub writer_checkpoints: u64,
    /// Group commits whose `BEGIN` had to wait for the file's write lock, held by another
    /// process (or another connection) writing the same file. Non-zero only when the
    /// file is shared.
    pub lock_waits: u64,
    /// Times the writer, having seen another process write the file within the last
    /// second, left the write lock free for a moment after a commit so that the other
    /// process gets its turn. Non-zero only when the file is shared.
    pub lock_yields: u64,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its schema if needed, with the
    /// default options (durable against power loss: [`Synchronous::Full`]).
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the file cannot be opened or set up, is not an aether store, or
    /// has a newer schema than this version of the crate understands.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, OpenError> {
        Self::builder(path).open().await
    }

    /// Options for opening the store at `path`; finish with
    /// [`SqliteStoreBuilder::open`].
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder::new(path.as_ref())
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability level commits are made with.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// How long [`wait_for_events`](aether_core::EventFeed::wait_for_events) waits at most
    /// when no commit of this store wakes it: how soon a reader sees the commits of other
    /// processes (see [`SqliteStoreBuilder::feed_poll_interval`]).
    pub fn feed_poll_interval(&self) -> Duration {
        self.feed_poll_interval
    }

    /// What the store has committed since it was opened. Cheap: a few atomic loads.
    ///
    /// `transactions` much smaller than `appends` is group commit at work.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            transactions: c.transactions.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            snapshots: c.snapshots.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            writer_checkpoints: c.writer_checkpoints.load(Ordering::Relaxed),
            lock_waits: c.lock_waits.load(Ordering::Relaxed),
            lock_yields: c.lock_yields.load(Ordering::Relaxed),
        }
    }

    /// Stops the writer once the writes already queued are committed and answered, and
    /// waits for it; the file is then closed (read connections close as this handle
    /// drops).
    ///
    /// A store shared through an `Arc` (as a runtime holds it) is closed with
    /// [`close_shared`](SqliteStore::close_shared).
    ///
    /// # Errors
    ///
    /// [`CloseError::ThreadPanicked`] if the writer or checkpoint thread had panicked.
    pub async fn close(self) -> Result<(), CloseError> {
        let SqliteStore {
            path,
            requests,
            threads,
            ..
        } = self;
        drop(requests);
        let threads = std::mem::take(&mut *threads.lock().unwrap_or_else(|p| p.into_inner()));
        let joined = tokio::task::spawn_blocking(move || {
            // Join every thread, even after one that panicked.
            let mut ok = true;
            for thread in threads {
                ok &= thread.join().is_ok();
            }
            ok
        })
        .await
        .unwrap_or(false);
        if joined {
            Ok(())
        } else {
            Err(CloseError::ThreadPanicked { path })
        }
    }

    /// Closes a store shared through an `Arc`, as [`close`](SqliteStore::close) does, if
    /// `store` is its last handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aether_sqlite::{CloseError, SqliteStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let store = Arc::new(SqliteStore::open(dir.path().join("events.db")).await?);
    /// let in_use = Arc::clone(&store); // e.g. held by a runtime's actor task
    /// let Err(CloseError::StillShared { others, store, .. }) = SqliteStore::close_shared(store).await
    /// else { unreachable!() };
    /// assert_eq!(others, 1);
    /// drop(in_use); // e.g. `runtime.shutdown().await`
    /// SqliteStore::close_shared(store).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CloseError::StillShared`] if other handles to the store are alive (actor tasks
    /// of a runtime not yet shut down, clones of the `Arc`): nothing is closed, and the
    /// error gives the store back. [`CloseError::ThreadPanicked`] as for `close`.
    pub async fn close_shared(store: Arc<SqliteStore>) -> Result<(), CloseError> {
        match Arc::try_unwrap(store) {
            Ok(store) => store.close().await,
            Err(store) => Err(CloseError::StillShared {
                path: store.path.clone(),
                others: Arc::strong_count(&store) - 1,
                store,
            }),
        }
    }

    /// Test hook: makes the writer thread open a write transaction and hold it (and the
    /// file's write lock) until the returned guard is dropped. Appends queue meanwhile.
    #[doc(hidden)]
    pub async fn hold_writer(&self) -> WriterHold {
        let (held_tx, held_rx) = oneshot::channel();
        let (release, release_rx) = std_mpsc::channel();
        let request = Request::Hold {
            held: held_tx,
            release: release_rx,
        };
        if self.requests.send(request).await.is_ok() {
            let _ = held_rx.await;
        }
        WriterHold { _release: release }
    }

    /// The error of a write whose writer thread is gone.
    pub(crate) fn writer_stopped(actor_id: &str, version: i64) -> StoreError {
        StoreError::backend(actor_id, version, WriterStopped)
    }
}

/// Guard returned by [`SqliteStore::hold_writer`]; dropping it releases the writer.
#[doc(hidden)]
#[derive(Debug)]
pub struct WriterHold {
    _release: std_mpsc::Sender<()>,
}

/// The writer thread is gone (the store was closed, or the thread panicked).
#[derive(Debug, thiserror::Error)]
#[error("the sqlite writer thread has stopped")]
struct WriterStopped;

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("synchronous", &self.synchronous)
            .field("free_read_connections", &self.reads.size())
            .field("stats", &self.stats())
            .finish()
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let Some(batch) = encode_batch(events, encode_event)? else {
            return Ok(());
        };
        let (actor_id, first) = (batch.actor_id, batch.first_version);
        let append = |reply| Request::Append {
            actor_id: actor_id.to_owned(),
            events: batch.events,
            reply,
        };
        submit_write(&self.requests, append, || {
            Self::writer_stopped(actor_id, first)
        })
        .await
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        validate_actor_id(actor_id, from_version)?;
        let id = actor_id.to_owned();
        self.reads
            .read(actor_id, from_version, move |conn| {
                reader::events(conn, &id, from_version)
            })
            .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        validate_actor_id(actor_id, 0)?;
        let id = actor_id.to_owned();
        self.reads
            .read(actor_id, 0, move |conn| reader::latest_version(conn, &id))
            .await
    }
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        validate_actor_id(actor_id, 0)?;
        let id = actor_id.to_owned();
        self.reads
            .read(actor_id, 0, move |conn| reader::latest_snapshot(conn, &id))
            .await
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let (actor_id, version) = (snapshot.actor_id.as_str(), snapshot.version);
        validate_actor_id(actor_id, version)?;
        let encoded = encode_snapshot(snapshot)?;
        let request = |reply| Request::Snapshot {
            snapshot: encoded,
            reply,
        };
        submit_write(&self.requests, request, || {
            Self::writer_stopped(actor_id, version)
        })
        .await
    }
}
