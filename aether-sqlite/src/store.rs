//! [`SqliteStore`]: the store itself, and its [`EventStore`] / [`SnapshotStore`] impls.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use aether_core::{
    validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError,
};
use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpoints;
use crate::codec::{encode_event, encode_snapshot};
use crate::reader::{self, ReadPool};
use crate::writer::{Counters, Request, Writer};
use crate::{schema, CloseError, OpenError, SqliteStoreBuilder, Synchronous};

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
    path: PathBuf,
    synchronous: Synchronous,
    requests: mpsc::Sender<Request>,
    reads: Arc<ReadPool>,
    counters: Arc<Counters>,
    /// The writer thread, then the checkpoint thread (which stops after the writer).
    threads: Mutex<Vec<JoinHandle<()>>>,
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

    pub(crate) async fn open_with(options: SqliteStoreBuilder) -> Result<SqliteStore, OpenError> {
        let path = options.path.clone();
        let opened =
            tokio::task::spawn_blocking(move || open_connections(&options).map(|c| (c, options)))
                .await
                .map_err(|join| {
                    OpenError::sqlite(&path, std::io::Error::other(join.to_string()))
                })?;
        let ((writer_conn, checkpoint_conn, read_conns), options) = opened?;
        let counters = Arc::new(Counters::default());
        let (requests, rx) = mpsc::channel(options.max_group_events.max(1024));
        let spawn_failed = |e| OpenError::sqlite(&options.path, e);
        let (checkpoints, checkpointer) = Checkpoints::start(
            &writer_conn,
            checkpoint_conn,
            options.wal_autocheckpoint,
            Arc::clone(&counters),
        )
        .map_err(spawn_failed)?
        .unzip();
        let writer = Writer::new(
            writer_conn,
            Arc::clone(&counters),
            options.max_group_events,
            checkpoints,
            options.busy_timeout,
        );
        let handle = std::thread::Builder::new()
            .name("aether-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(spawn_failed)?;
        let threads = std::iter::once(handle).chain(checkpointer).collect();
        tracing::debug!(path = %options.path.display(), "opened aether sqlite store");
        Ok(SqliteStore {
            path: options.path,
            synchronous: options.synchronous,
            requests,
            reads: Arc::new(ReadPool::new(read_conns)),
            counters,
            threads: Mutex::new(threads),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability level commits are made with.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
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

    async fn submit(
        &self,
        actor_id: &str,
        version: i64,
        request: Request,
        reply: oneshot::Receiver<Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        if self.requests.send(request).await.is_err() {
            return Err(StoreError::backend(actor_id, version, WriterStopped));
        }
        reply
            .await
            .unwrap_or_else(|_| Err(StoreError::backend(actor_id, version, WriterStopped)))
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

/// The writer's connection, the checkpoint thread's, and the readers'.
type Connections = (Connection, Connection, Vec<Connection>);

fn open_connections(options: &SqliteStoreBuilder) -> Result<Connections, OpenError> {
    let path = options.path.as_path();
    let sqlite = |e| OpenError::sqlite(path, e);
    let mut writer = Connection::open(path).map_err(sqlite)?;
    writer.busy_timeout(options.busy_timeout).map_err(sqlite)?;
    let mode: String = writer
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    writer
        .execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;",
            options.synchronous.pragma_value(),
        ))
        .map_err(sqlite)?;
    writer.set_prepared_statement_cache_capacity(32);
    schema::ensure(&mut writer, path)?;
    let checkpointer = Connection::open(path).map_err(sqlite)?;
    checkpointer
        .busy_timeout(options.busy_timeout)
        .map_err(sqlite)?;
    checkpointer
        .execute_batch(&format!(
            "PRAGMA synchronous = {};",
            options.synchronous.pragma_value()
        ))
        .map_err(sqlite)?;
    let mut readers = Vec::with_capacity(options.read_connections);
    for _ in 0..options.read_connections {
        let reader = Connection::open(path).map_err(sqlite)?;
        reader.busy_timeout(options.busy_timeout).map_err(sqlite)?;
        reader
            .execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -8192;")
            .map_err(sqlite)?;
        readers.push(reader);
    }
    Ok((writer, checkpointer, readers))
}

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
        let Some(actor_id) = validate_batch(events)? else {
            return Ok(());
        };
        let encoded = events
            .iter()
            .map(encode_event)
            .collect::<Result<Vec<_>, _>>()?;
        let first = events[0].version;
        let (reply, answer) = oneshot::channel();
        let request = Request::Append {
            actor_id: actor_id.to_owned(),
            events: encoded,
            reply,
        };
        self.submit(actor_id, first, request, answer).await
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
        validate_actor_id(&snapshot.actor_id, snapshot.version)?;
        let encoded = encode_snapshot(snapshot)?;
        let (reply, answer) = oneshot::channel();
        let request = Request::Snapshot {
            snapshot: encoded,
            reply,
        };
        self.submit(&snapshot.actor_id, snapshot.version, request, answer)
            .await
    }
}
