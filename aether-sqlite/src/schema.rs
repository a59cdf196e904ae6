//! The file's schema: creation on open, migration of older files, and its version.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::OpenError;

/// The schema version this crate writes and understands (`PRAGMA user_version`).
///
/// Version 1 had the `actors`, `events` and `snapshots` tables; version 2 adds
/// `projection_checkpoints`. A file at an older version is migrated when it is opened.
pub const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of aether files: "AETH" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x4145_5448;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS actors (
    actor_key      INTEGER PRIMARY KEY,
    actor_id       TEXT    NOT NULL UNIQUE,
    latest_version INTEGER NOT NULL DEFAULT 0,
    latest_seq     INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    actor_key  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    prev_seq   INTEGER,
    id         TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    command_id TEXT,
    data       TEXT    NOT NULL,
    ts_secs    INTEGER NOT NULL,
    ts_nanos   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    actor_key INTEGER PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    ts_secs   INTEGER NOT NULL,
    ts_nanos  INTEGER NOT NULL
);
";

/// From version 1 to 2: the checkpoints of projections (the read side). Positions are
/// stored as their `"commit:index"` text (`Display` / `FromStr` of `Position`), so every
/// position round-trips, `u64::MAX` included, and reads well in the `sqlite3` shell.
const MIGRATE_V1_TO_V2: &str = "
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name     TEXT NOT NULL PRIMARY KEY,
    position TEXT NOT NULL
);
";

/// Creates the schema in a fresh file, or checks that an existing file's schema is one
/// this crate understands. Runs in a write transaction, so two processes opening one
/// new file at once do not both create it.
pub(crate) fn ensure(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let sqlite = |source| OpenError::sqlite(path, source);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite)?;
    let application_id: i64 = tx
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(sqlite)?;
    if version == 0 {
        let has_tables: Option<String> = tx
            .query_row(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name IN ('actors', 'events', 'snapshots') LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite)?;
        if let Some(table) = has_tables {
            return Err(OpenError::NotAnAetherStore {
                path: path.to_owned(),
                reason: format!("it has a table named {table:?} but no aether schema version"),
            });
        }
        tx.execute_batch(SCHEMA_V1).map_err(sqlite)?;
        tx.execute_batch(MIGRATE_V1_TO_V2).map_err(sqlite)?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        tracing::debug!(path = %path.display(), "created aether sqlite schema v{SCHEMA_VERSION}");
        return Ok(());
    }
    if application_id != APPLICATION_ID {
        return Err(OpenError::NotAnAetherStore {
            path: path.to_owned(),
            reason: format!(
                "its application_id is {application_id:#x}, not aether's {APPLICATION_ID:#x}"
            ),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(OpenError::NotAnAetherStore {
            path: path.to_owned(),
            reason: format!("its schema version is {version}"),
        });
    }
    if version < SCHEMA_VERSION {
        // Each step runs in this transaction: a crash leaves the file at its old
        // version, and two processes opening it at once do not both migrate it.
        if version < 2 {
            tx.execute_batch(MIGRATE_V1_TO_V2).map_err(sqlite)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(sqlite)?;
        tracing::info!(
            path = %path.display(),
            from = version,
            to = SCHEMA_VERSION,
            "migrated aether sqlite schema"
        );
    }
    tx.commit().map_err(sqlite)?;
    Ok(())
}
