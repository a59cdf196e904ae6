//! Reads: a small pool of read connections, used from tokio's blocking threads.
//!
//! In WAL mode a reader sees the last commit made before its read transaction began and
//! never waits for the writer, so reads go to their own connections, never through the
//! writer thread. A read waits only for a free connection of the pool.

use std::sync::{Arc, Mutex};

use aether_core::{ActorSnapshot, BoxError, Event, StoreError};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::Semaphore;

use crate::codec::{decode_event, decode_snapshot, read_column, EVENT_COLUMNS};

/// A fixed set of read connections; a semaphore lets as many reads in as there are
/// connections.
pub(crate) struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let permits = Semaphore::new(conns.len());
        ReadPool {
            conns: Mutex::new(conns),
            permits,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `f` on a free read connection, on a blocking thread.
    pub(crate) async fn read<T, F>(
        self: &Arc<Self>,
        actor_id: &str,
        version: i64,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(f, |source| StoreError::Backend {
            actor_id: actor_id.to_owned(),
            version,
            source,
        })
        .await
    }

    /// Runs `f` on a free read connection, on a blocking thread; `fail` makes the error
    /// of a pool that cannot run it (closed, or the blocking task failed).
    pub(crate) async fn run<T, E, F>(
        self: &Arc<Self>,
        f: F,
        fail: impl FnOnce(BoxError) -> E,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let _permit = match self.permits.acquire().await {
            Ok(permit) => permit,
            Err(e) => return Err(fail(Arc::new(e))),
        };
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let conn = pool
                .conns
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop()
                .expect("a read permit guarantees a free connection");
            let guard = Returned {
                pool: &pool,
                conn: Some(conn),
            };
            f(guard.conn.as_ref().expect("connection present until drop"))
        });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(fail(Arc::new(std::io::Error::other(format!(
                "sqlite read task failed: {join}"
            ))))),
        }
    }
}

/// Puts a connection back into the pool when dropped, even while unwinding.
struct Returned<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl Drop for Returned<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .conns
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(conn);
        }
    }
}

/// The actor's key, latest version and latest seq; `None` for an unknown actor.
fn actor_row(
    conn: &Connection,
    actor_id: &str,
) -> rusqlite::Result<Option<(i64, i64, Option<i64>)>> {
    conn.prepare_cached(
        "SELECT actor_key, latest_version, latest_seq FROM actors WHERE actor_id = ?1",
    )?
    .query_row([actor_id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
    .optional()
}

pub(crate) fn latest_version(conn: &Connection, actor_id: &str) -> Result<i64, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT latest_version FROM actors WHERE actor_id = ?1")
        .map_err(|e| StoreError::backend(actor_id, 0, e))?;
    let latest: Option<i64> = stmt
        .query_row([actor_id], |row| row.get(0))
        .optional()
        .map_err(|e| StoreError::backend(actor_id, 0, e))?;
    Ok(latest.unwrap_or(0))
}

/// Reads the actor's events with `version >= from`, walking the actor's chain of events
/// back from its latest one, inside one read transaction.
pub(crate) fn events(
    conn: &Connection,
    actor_id: &str,
    from: i64,
) -> Result<Vec<Event>, StoreError> {
    let backend = |e| StoreError::backend(actor_id, from, e);
    let tx = conn.unchecked_transaction().map_err(backend)?;
    let Some((key, latest, mut next_seq)) = actor_row(&tx, actor_id).map_err(backend)? else {
        return Ok(Vec::new());
    };
    if latest < from {
        return Ok(Vec::new());
    }
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"
        ))
        .map_err(backend)?;
    let mut out = Vec::new();
    // Versions must strictly decrease along the chain; anything else is corruption, and
    // stops the walk (so a corrupt pointer can never loop).
    // The first row must be the latest version itself; each later one lies below the last.
    let mut below: Option<i64> = None;
    let mut expected_version = latest;
    while let Some(seq) = next_seq {
        let mut rows = stmt.query([seq]).map_err(backend)?;
        let Some(row) = rows.next().map_err(backend)? else {
            return Err(StoreError::serialization(
                actor_id,
                expected_version,
                format!("the event chain points at event row {seq}, which does not exist"),
            ));
        };
        let version: i64 = read_column(row, 0, "version", actor_id, expected_version)?;
        let row_key: i64 = read_column(row, 2, "actor_key", actor_id, version)?;
        let in_order = match below {
            None => version == latest,
            Some(below) => version < below,
        };
        if row_key != key || !in_order {
            let expected = match below {
                None => format!("{latest}"),
                Some(below) => format!("below {below}"),
            };
            return Err(StoreError::serialization(
                actor_id,
                version,
                format!(
                    "event row {seq} breaks the actor's chain (actor key {row_key}, expected \
                     {key}; version {version}, expected {expected})"
                ),
            ));
        }
        if version < from {
            break;
        }
        out.push(decode_event(row, actor_id, version)?);
        next_seq = read_column(row, 1, "prev_seq", actor_id, version)?;
        below = Some(version);
        expected_version = version;
    }
    drop(stmt);
    tx.finish().map_err(backend)?;
    out.reverse();
    Ok(out)
}

pub(crate) fn latest_snapshot(
    conn: &Connection,
    actor_id: &str,
) -> Result<Option<ActorSnapshot>, StoreError> {
    let backend = |e| StoreError::backend(actor_id, 0, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.version, s.state, s.ts_secs, s.ts_nanos FROM snapshots s \
             JOIN actors a ON a.actor_key = s.actor_key WHERE a.actor_id = ?1",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([actor_id]).map_err(backend)?;
    match rows.next().map_err(backend)? {
        Some(row) => decode_snapshot(row, actor_id).map(Some),
        None => Ok(None),
    }
}
