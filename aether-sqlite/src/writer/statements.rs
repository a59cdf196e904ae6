//! What one request runs inside its group's transaction: the actor's key, the version
//! check and the inserts of an append, a snapshot's upsert, a projection checkpoint's
//! upsert or delete, savepoints.

use std::collections::HashMap;

use aether_core::{Position, StoreError, VersionConflictError};
use rusqlite::{params, OptionalExtension};

use super::Writer;
use crate::codec::{EncodedEvent, EncodedSnapshot};

impl Writer {
    /// The actor's key, latest version and latest event's seq, read inside the write
    /// transaction. `None` for an actor the file has never seen.
    pub(super) fn lookup(
        &self,
        actor_id: &str,
        new_keys: &mut HashMap<String, i64>,
    ) -> rusqlite::Result<Option<(i64, i64, Option<i64>)>> {
        if let Some(&key) = self.keys.get(actor_id).or_else(|| new_keys.get(actor_id)) {
            let mut stmt = self.conn.prepare_cached(
                "SELECT latest_version, latest_seq FROM actors WHERE actor_key = ?1",
            )?;
            let found = stmt
                .query_row([key], |row| Ok((key, row.get(0)?, row.get(1)?)))
                .optional()?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT actor_key, latest_version, latest_seq FROM actors WHERE actor_id = ?1",
        )?;
        let found: Option<(i64, i64, Option<i64>)> = stmt
            .query_row([actor_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        if let Some((key, _, _)) = found {
            new_keys.insert(actor_id.to_owned(), key);
        }
        Ok(found)
    }

    pub(super) fn insert_actor(&self, actor_id: &str) -> rusqlite::Result<i64> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO actors (actor_id, latest_version) VALUES (?1, 0)")?;
        stmt.execute([actor_id])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends the batch; returns the `events.seq` of its last event.
    pub(super) fn append(
        &self,
        actor_id: &str,
        events: &[EncodedEvent],
        new_keys: &mut HashMap<String, i64>,
    ) -> Result<i64, StoreError> {
        let first = events[0].version;
        let found = self
            .lookup(actor_id, new_keys)
            .map_err(|e| StoreError::backend(actor_id, first, e))?;
        let (key, latest_version, mut prev_seq) = match found {
            Some((key, latest, seq)) => (Some(key), latest, seq),
            None => (None, 0, None),
        };
        if first <= latest_version {
            return Err(VersionConflictError {
                actor_id: actor_id.to_owned(),
                attempted_version: first,
                current_version: latest_version,
            }
            .into());
        }
        // One statement is atomic by itself; more need a savepoint to be all or nothing.
        let savepoint = events.len() > 1 || key.is_none();
        let mut inserted_key = None;
        let mut failed_at = first;
        let mut write =
            |failed_at: &mut i64, inserted_key: &mut Option<i64>| -> rusqlite::Result<()> {
                let key = match key {
                    Some(key) => key,
                    None => {
                        let key = self.insert_actor(actor_id)?;
                        *inserted_key = Some(key);
                        key
                    }
                };
                let mut insert = self.conn.prepare_cached(
                "INSERT INTO events (actor_key, version, prev_seq, id, event_type, command_id, \
                 data, ts_secs, ts_nanos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
                for event in events {
                    *failed_at = event.version;
                    insert.execute(params![
                        key,
                        event.version,
                        prev_seq,
                        event.id,
                        event.event_type,
                        event.command_id,
                        event.data,
                        event.ts_secs,
                        event.ts_nanos,
                    ])?;
                    prev_seq = Some(self.conn.last_insert_rowid());
                }
                let last = events[events.len() - 1].version;
                let mut update = self.conn.prepare_cached(
                    "UPDATE actors SET latest_version = ?2, latest_seq = ?3 WHERE actor_key = ?1",
                )?;
                update.execute(params![key, last, prev_seq])?;
                Ok(())
            };
        let result = if savepoint {
            self.in_savepoint(|| write(&mut failed_at, &mut inserted_key))
        } else {
            write(&mut failed_at, &mut inserted_key)
        };
        result.map_err(|e| StoreError::backend(actor_id, failed_at, e))?;
        if let Some(key) = inserted_key {
            new_keys.insert(actor_id.to_owned(), key);
        }
        Ok(prev_seq.unwrap_or(0))
    }

    /// Saves (`Some`) or deletes (`None`) the checkpoint of `projection`: one statement,
    /// atomic by itself.
    pub(super) fn projection_checkpoint(
        &self,
        projection: &str,
        position: Option<Position>,
    ) -> Result<(), StoreError> {
        let result = match position {
            Some(position) => crate::projection::save_checkpoint(&self.conn, projection, position),
            None => crate::projection::delete_checkpoint(&self.conn, projection),
        };
        result.map_err(|e| StoreError::backend(projection, 0, e))
    }

    pub(super) fn snapshot(
        &self,
        snapshot: &EncodedSnapshot,
        new_keys: &mut HashMap<String, i64>,
    ) -> Result<(), StoreError> {
        let actor_id = snapshot.actor_id.as_str();
        let backend = |e| StoreError::backend(actor_id, snapshot.version, e);
        let mut inserted_key = None;
        self.in_savepoint(|| {
            let key = match self.lookup(actor_id, new_keys)? {
                Some((key, _, _)) => key,
                None => {
                    let key = self.insert_actor(actor_id)?;
                    inserted_key = Some(key);
                    key
                }
            };
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO snapshots (actor_key, version, state, ts_secs, ts_nanos) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (actor_key) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, ts_secs = excluded.ts_secs, ts_nanos = excluded.ts_nanos \
                 WHERE excluded.version >= snapshots.version",
            )?;
            stmt.execute(params![
                key,
                snapshot.version,
                snapshot.state,
                snapshot.ts_secs,
                snapshot.ts_nanos
            ])?;
            Ok(())
        })
        .map_err(backend)?;
        if let Some(key) = inserted_key {
            new_keys.insert(actor_id.to_owned(), key);
        }
        Ok(())
    }

    /// Runs `f` inside a savepoint: released on success, rolled back on error.
    pub(super) fn in_savepoint<T>(
        &self,
        f: impl FnOnce() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.execute_batch("SAVEPOINT request")?;
        match f() {
            Ok(value) => {
                self.conn.execute_batch("RELEASE request")?;
                Ok(value)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self
                        .conn
                        .execute_batch("ROLLBACK TO request; RELEASE request");
                }
                Err(e)
            }
        }
    }
}
