//! Exactly-once projections: [`SqliteProjection`], a read model kept in the store's own
//! file, and [`SqliteProjectionSink`], which commits each batch of its events and the
//! projection's checkpoint in one SQLite transaction.
//!
//! The checkpoints live in the `projection_checkpoints` table (schema version 2), the
//! same rows [`CheckpointStore`](aether_core::CheckpointStore) for [`SqliteStore`] reads
//! and writes. (Not to be confused with `checkpoint.rs`, about WAL checkpoints.)

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use aether_core::{
    async_trait, validate_projection_name, FeedError, FeedEvent, FeedItem, HandlerError, Position,
    ProjectionSink, SinkError,
};
use rusqlite::{Connection, DropBehavior, OptionalExtension, Transaction, TransactionBehavior};

use crate::checkpoint::Checkpoints;
use crate::lock::WriteLock;
use crate::writer::Counters;
use crate::{SqliteStore, Synchronous};

/// A read model kept in tables of the store's own SQLite file, fed exactly once: each
/// batch of events and the projection's checkpoint commit in one transaction, so after
/// any crash the read model holds exactly the events up to its checkpoint.
///
/// Turn one into a [`ProjectionSink`] with [`SqliteStore::exactly_once`]. The handlers
/// are synchronous: they run on a blocking thread, inside a transaction holding the
/// file's write lock, so they should only do SQL (no network calls, no waiting).
///
/// A handler must not end the transaction it is given (no `COMMIT` or `ROLLBACK` of its
/// own; savepoints are fine): the sink commits it, and fails with
/// [`SinkError::Store`] if it finds it ended.
///
/// See the crate docs, "Exactly-once projections", for an example.
///
/// `E` is what the handler is given: the owned [`FeedEvent`] (the default), or
/// [`Decoded<T>`](aether_core::Decoded), the projection's own type decoded by
/// [`FeedDecode`](aether_core::FeedDecode) from the row the store lends, on the thread
/// that reads the feed while this one writes: the faster way to catch up (see the crate
/// docs, "Exactly-once projections").
pub trait SqliteProjection<E: FeedItem = FeedEvent>: Send + 'static {
    /// Applies one event to the read model, with the statements of `tx`. An error rolls
    /// back the whole batch (earlier events of it included) and its checkpoint.
    fn handle(&mut self, tx: &Transaction<'_>, event: &E) -> Result<(), HandlerError>;

    /// Applies a batch of events in feed order, in one transaction: what the sink calls.
    /// The default calls [`handle`](Self::handle) on each event.
    ///
    /// Override it to work on the batch as a whole, for example to prepare a statement
    /// once per batch instead of looking it up per event (`tx.prepare_cached` hashes the
    /// SQL text on every call), which makes a catching-up projection faster.
    ///
    /// # Errors
    ///
    /// For a failed event, [`SinkError::Handler`] with its position (the default does
    /// that); the sink rolls back the batch and returns the error as it is.
    ///
    /// ```
    /// use aether_core::{FeedEvent, HandlerError, SinkError};
    /// use aether_sqlite::{rusqlite::Transaction, SqliteProjection};
    ///
    /// struct Versions;
    ///
    /// impl SqliteProjection for Versions {
    ///     fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
    ///         self.handle_batch(tx, std::slice::from_ref(event)).map_err(Into::into)
    ///     }
    ///
    ///     fn handle_batch(&mut self, tx: &Transaction<'_>, events: &[FeedEvent]) -> Result<(), SinkError> {
    ///         let mut insert = tx
    ///             .prepare("INSERT OR REPLACE INTO versions (actor_id, version) VALUES (?1, ?2)")
    ///             .map_err(|e| SinkError::Store(aether_core::FeedError::checkpoint("versions", e)))?;
    ///         for fed in events {
    ///             insert
    ///                 .execute((&fed.event.actor_id, fed.event.version))
    ///                 .map_err(|e| SinkError::Handler { position: fed.position, source: e.into() })?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # fn is_projection(_: impl SqliteProjection) {}
    /// # is_projection(Versions);
    /// ```
    fn handle_batch(&mut self, tx: &Transaction<'_>, events: &[E]) -> Result<(), SinkError> {
        for event in events {
            self.handle(tx, event)
                .map_err(|source| SinkError::Handler {
                    position: event.position(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Empties the read model, before a rebuild from the start of the feed, in the
    /// transaction that also deletes the checkpoint. The default does nothing.
    fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        let _ = tx;
        Ok(())
    }
}

/// The exactly-once [`ProjectionSink`] of a [`SqliteProjection`]; made by
/// [`SqliteStore::exactly_once`].
///
/// It writes the store's file through a connection of its own, opened on first use and
/// kept. That connection shares the file's write lock with the store's writer (and with
/// other processes) the way the writer does (see the crate docs, "Concurrency"): it
/// polls for the lock every 20–50 µs for up to the store's
/// [`busy_timeout`](crate::SqliteStoreBuilder::busy_timeout), and the writer takes turns
/// with it. Every call runs on one of tokio's blocking threads.
///
/// Each [`commit`](ProjectionSink::commit) runs `BEGIN IMMEDIATE`, the handler on each
/// event in order, the upsert of the checkpoint row, `COMMIT`. A dropped (cancelled)
/// call runs to its end on its blocking thread: it may or may not have committed, and
/// the next call waits for it.
pub struct SqliteProjectionSink<P> {
    state: Arc<Mutex<SinkState<P>>>,
    path: PathBuf,
}

/// What the blocking calls of a sink work on.
struct SinkState<P> {
    projection: P,
    /// Opened on first use.
    conn: Option<Connection>,
    lock: WriteLock,
    path: PathBuf,
    synchronous: Synchronous,
    wal_autocheckpoint: u32,
    /// The WAL checkpoints of the sink's commits, on a thread of their own (started with
    /// the connection; none when `wal_autocheckpoint` is 0).
    checkpoints: Option<Checkpoints>,
}

impl<P> fmt::Debug for SqliteProjectionSink<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteProjectionSink")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The exactly-once sink of `projection`, writing this store's file; give it to a
    /// projection runner (`aether::projection`).
    ///
    /// The sink opens its own connection to the file on first use (it does not use the
    /// store's writer or readers), so it works on after this store is closed, as long
    /// as the file is there.
    pub fn exactly_once<P: Send + 'static>(&self, projection: P) -> SqliteProjectionSink<P> {
        // Its own counters: the lock waits of a sink are not the store's.
        let lock = WriteLock::new(self.busy_timeout, Arc::new(Counters::default()));
        SqliteProjectionSink {
            path: self.path.clone(),
            state: Arc::new(Mutex::new(SinkState {
                projection,
                conn: None,
                lock,
                path: self.path.clone(),
                synchronous: self.synchronous,
                wal_autocheckpoint: self.wal_autocheckpoint,
                checkpoints: None,
            })),
        }
    }
}

impl<P> SqliteProjectionSink<P> {
    /// The file the sink writes (the store's).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How durable each of the sink's commits is. Default: the store's
    /// [`synchronous`](crate::SqliteStoreBuilder::synchronous) level
    /// ([`Synchronous::Full`] unless set).
    ///
    /// [`Synchronous::Normal`] skips the `fsync` of every batch, which makes catching up
    /// faster, and keeps the promise of the sink: a batch's rows and its checkpoint commit
    /// together or not at all, at every level. What it gives up is that a commit survives
    /// a power loss or an OS crash (a process crash loses nothing): the last batches may
    /// then roll back, with their checkpoint, and the projection handles them again. A
    /// read model rebuilt from the feed can usually afford that.
    pub fn synchronous(self, level: Synchronous) -> Self {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.synchronous = level;
            if let Some(conn) = &state.conn {
                // Opened already (the sink was used): the level applies from now on.
                let _ =
                    conn.execute_batch(&format!("PRAGMA synchronous = {};", level.pragma_value()));
            }
        }
        self
    }
}

impl<P: Send + 'static> SqliteProjectionSink<P> {
    /// Runs `f` on the sink's state on a blocking thread; `name` is the projection's, for
    /// errors.
    async fn run<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce(&mut SinkState<P>) -> Result<T, SinkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        validate_projection_name(name)?;
        let state = Arc::clone(&self.state);
        let task = tokio::task::spawn_blocking(move || {
            // A poisoned lock: a handler panicked; its transaction was rolled back as the
            // panic unwound, so the state is usable.
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.lock.enter();
            f(&mut state)
        });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(store_error(
                name,
                std::io::Error::other(format!(
                    "the projection's blocking task failed (a handler panicked?): {join}"
                )),
            )),
        }
    }
}

fn store_error(name: &str, source: impl std::error::Error + Send + Sync + 'static) -> SinkError {
    SinkError::Store(FeedError::checkpoint(name, source))
}

impl<P: Send + 'static> SinkState<P> {
    /// The sink's connection, opened the first time.
    fn connection(&mut self) -> std::io::Result<&Connection> {
        if self.conn.is_none() {
            let conn = Connection::open(&self.path).map_err(std::io::Error::other)?;
            // SQLite's own autocheckpoint would copy the WAL into the file inside the
            // commit that crosses the threshold, on this projection's path; a thread of
            // the sink's own does it beside the commits instead, as for the writer
            // (`checkpoint.rs`).
            conn.execute_batch(&format!(
                "PRAGMA synchronous = {}; PRAGMA wal_autocheckpoint = 0;",
                self.synchronous.pragma_value(),
            ))
            .map_err(std::io::Error::other)?;
            conn.set_prepared_statement_cache_capacity(32);
            self.lock.install(&conn);
            let started = Checkpoints::start(
                &conn,
                Connection::open(&self.path).map_err(std::io::Error::other)?,
                self.wal_autocheckpoint,
                Arc::clone(self.lock.counters()),
            )?;
            if let Some((checkpoints, _thread)) = started {
                // The thread ends when `checkpoints` (its wake-up sender) is dropped.
                Checkpoints::install(&conn);
                self.checkpoints = Some(checkpoints);
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    /// `BEGIN IMMEDIATE` (sharing the write lock), `work`, `COMMIT`; rolled back if
    /// `work` fails.
    fn in_transaction<T>(
        &mut self,
        name: &str,
        work: impl FnOnce(&mut P, &Transaction<'_>) -> Result<T, SinkError>,
    ) -> Result<T, SinkError> {
        // The connection is opened first, then borrowed beside the lock and projection.
        self.connection().map_err(|e| store_error(name, e))?;
        let SinkState {
            projection,
            conn,
            lock,
            checkpoints,
            ..
        } = self;
        let conn = conn.as_ref().expect("opened above");
        let mut tx = lock
            .begin_with(conn, || {
                Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            })
            .map_err(|e| store_error(name, e))?;
        let value = match work(projection, &tx) {
            Ok(value) => value,
            Err(err) => {
                drop(tx); // rolls back
                lock.released();
                return Err(err);
            }
        };
        if conn.is_autocommit() {
            lock.released();
            return Err(store_error(
                name,
                std::io::Error::other(
                    "the transaction ended before the sink committed it (a handler ran COMMIT \
                     or ROLLBACK, or SQLite rolled it back after an error): the batch may be \
                     partly stored",
                ),
            ));
        }
        // Committed by the lock, which retries a busy COMMIT within the busy budget.
        tx.set_drop_behavior(DropBehavior::Ignore);
        drop(tx);
        if let Err(e) = lock.commit(conn) {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(store_error(name, e));
        }
        if let Some(checkpoints) = checkpoints {
            checkpoints.after_commit(conn);
        }
        Ok(value)
    }
}

/// Items must be `Clone` (`Decoded<T>` with `T: Clone`) for
/// [`commit`](ProjectionSink::commit), which copies a borrowed batch to the blocking
/// thread; the runner shares its batches instead
/// ([`commit_shared`](ProjectionSink::commit_shared)).
#[async_trait]
impl<E: FeedItem + Clone, P: SqliteProjection<E>> ProjectionSink<E> for SqliteProjectionSink<P> {
    async fn checkpoint(&mut self, projection: &str) -> Result<Option<Position>, FeedError> {
        let name = projection.to_owned();
        let result = self
            .run(projection, move |state| {
                let conn = state.connection().map_err(|e| store_error(&name, e))?;
                load_checkpoint(conn, &name).map_err(SinkError::Store)
            })
            .await;
        match result {
            Ok(position) => Ok(position),
            Err(SinkError::Store(err)) => Err(err),
            Err(other) => Err(FeedError::checkpoint(projection, other)),
        }
    }

    async fn commit(
        &mut self,
        projection: &str,
        events: &[E],
        to: Position,
    ) -> Result<(), SinkError> {
        // The blocking thread needs a batch of its own: a copy. The runner shares its
        // batch through `commit_shared` instead.
        self.commit_shared(projection, events.into(), to).await
    }

    async fn commit_shared(
        &mut self,
        projection: &str,
        events: Arc<[E]>,
        to: Position,
    ) -> Result<(), SinkError> {
        let name = projection.to_owned();
        self.run(projection, move |state| {
            state.in_transaction(&name, |projection, tx| {
                projection.handle_batch(tx, &events)?;
                save_checkpoint(tx, &name, to).map_err(|e| store_error(&name, e))
            })
        })
        .await
    }

    async fn skip_to(&mut self, projection: &str, to: Position) -> Result<(), SinkError> {
        let name = projection.to_owned();
        self.run(projection, move |state| {
            state.in_transaction(&name, |_, tx| {
                save_checkpoint(tx, &name, to).map_err(|e| store_error(&name, e))
            })
        })
        .await
    }

    async fn reset(&mut self, projection: &str) -> Result<(), SinkError> {
        let name = projection.to_owned();
        self.run(projection, move |state| {
            state.in_transaction(&name, |projection, tx| {
                projection
                    .reset(tx)
                    .map_err(|source| SinkError::Reset { source })?;
                delete_checkpoint(tx, &name).map_err(|e| store_error(&name, e))
            })
        })
        .await
    }
}

/// The checkpoint row of `name`; a row that is not a position is a
/// [`FeedError::Checkpoint`].
pub(crate) fn load_checkpoint(
    conn: &Connection,
    name: &str,
) -> Result<Option<Position>, FeedError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT position FROM projection_checkpoints WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)).optional())
        .map_err(|e| FeedError::checkpoint(name, e))?;
    text.map(|text| text.parse::<Position>())
        .transpose()
        .map_err(|e| FeedError::checkpoint(name, e))
}

/// Upserts the checkpoint row of `name`.
pub(crate) fn save_checkpoint(
    conn: &Connection,
    name: &str,
    position: Position,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO projection_checkpoints (name, position) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position",
    )?
    .execute([name, &position.to_string()])?;
    Ok(())
}

/// Deletes the checkpoint row of `name`, if any.
pub(crate) fn delete_checkpoint(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM projection_checkpoints WHERE name = ?1")?
        .execute([name])?;
    Ok(())
}
