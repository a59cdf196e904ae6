//! The tables of a store, their migrations, and the SQL text of every statement.
//!
//! All statements name their tables with the schema, quoted, so a store never depends on
//! the connection's `search_path` and two stores on two schemas never see each other.

use std::sync::Arc;

use tokio_postgres::Client;

use crate::error::{ConnectError, PostgresError};

/// The newest layout version this crate writes and reads (the `version` of the
/// `schema_version` table). A schema with a higher one is refused with
/// [`ConnectError::NewerSchema`].
pub const SCHEMA_VERSION: i64 = 1;

/// Migration steps: `MIGRATIONS[i]` brings a schema from layout `i` to layout `i + 1`.
/// Each step runs inside the migration transaction; `{s}` is the quoted schema.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first layout.
    r#"
    CREATE TABLE {s}.actors (
        actor_id        text   PRIMARY KEY,
        latest_version  bigint NOT NULL CHECK (latest_version > 0),
        latest_batch_first_version bigint NOT NULL
    );
    CREATE TABLE {s}.events (
        actor_id        text        NOT NULL,
        version         bigint      NOT NULL CHECK (version > 0),
        event_id        text        NOT NULL,
        event_type      text        NOT NULL,
        command_id      text,
        data            jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL,
        recorded_nanos  integer     NOT NULL,
        PRIMARY KEY (actor_id, version)
    );
    CREATE TABLE {s}.snapshots (
        actor_id        text        PRIMARY KEY,
        version         bigint      NOT NULL,
        state           jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL,
        recorded_nanos  integer     NOT NULL
    );
    COMMENT ON TABLE {s}.actors IS
        'aether: one row per actor; latest_version is the optimistic-concurrency guard';
    COMMENT ON COLUMN {s}.actors.latest_batch_first_version IS
        'aether: the first version of the latest accepted batch (lets one upsert check many batches)';
    COMMENT ON TABLE {s}.events IS
        'aether: immutable event history; data is jsonb (JSON null is the jsonb null, never SQL NULL)';
    COMMENT ON COLUMN {s}.events.recorded_at IS
        'aether: the event timestamp truncated to microseconds, for reading in SQL';
    COMMENT ON COLUMN {s}.events.recorded_nanos IS
        'aether: the sub-second part of the timestamp in nanoseconds (replaces the microseconds of recorded_at when read back)';
    "#,
];

/// Checks a schema name and returns it quoted as an SQL identifier.
pub(crate) fn quote_schema(name: &str) -> Result<String, ConnectError> {
    let reason = if name.is_empty() {
        Some("the schema name must not be empty".to_owned())
    } else if name.contains('\0') {
        Some("the schema name must not contain a NUL byte".to_owned())
    } else if name.len() > 63 {
        // PostgreSQL truncates longer identifiers silently, so two long names could
        // collide: refuse them instead.
        Some(format!(
            "the schema name is {} bytes long; PostgreSQL keeps at most 63",
            name.len()
        ))
    } else if name.starts_with("pg_") {
        Some("schema names starting with \"pg_\" are reserved by PostgreSQL".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConnectError::Config { reason }),
        None => Ok(format!("\"{}\"", name.replace('"', "\"\""))),
    }
}

/// Creates the schema if needed and brings it to [`SCHEMA_VERSION`], in one transaction
/// serialized by an advisory lock, so that many processes connecting at once migrate
/// exactly once.
pub(crate) async fn migrate(client: &mut Client, schema: &str) -> Result<(), ConnectError> {
    let quoted = quote_schema(schema)?;
    let fail = |err: tokio_postgres::Error| ConnectError::Schema {
        schema: schema.to_owned(),
        source: Arc::new(PostgresError::from(err)),
    };
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('aether-postgres migration'), hashtext($1))",
        &[&schema],
    )
    .await
    .map_err(fail)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.schema_version (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
             version   integer NOT NULL
         );
         INSERT INTO {quoted}.schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;"
    ))
    .await
    .map_err(fail)?;
    let found: i32 = tx
        .query_one(&format!("SELECT version FROM {quoted}.schema_version"), &[])
        .await
        .map_err(fail)?
        .get(0);
    if i64::from(found) > SCHEMA_VERSION {
        return Err(ConnectError::NewerSchema {
            schema: schema.to_owned(),
            found: found.into(),
            supported: SCHEMA_VERSION,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tracing::info!(
            schema,
            from = step,
            to = step + 1,
            "migrating aether schema"
        );
        tx.batch_execute(&sql.replace("{s}", &quoted))
            .await
            .map_err(fail)?;
    }
    tx.execute(
        &format!("UPDATE {quoted}.schema_version SET version = $1"),
        // The column is an `integer`.
        &[&(SCHEMA_VERSION as i32)],
    )
    .await
    .map_err(fail)?;
    tx.commit().await.map_err(fail)
}

/// The SQL text of a store's statements, with its schema filled in.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Appends batches of several actors in one statement (group commit). Parameters:
    /// per batch `actor_id[]`, `first_version[]`, `last_version[]`; per event
    /// `actor_id[]`, `version[]`, `event_id[]`, `event_type[]`, `command_id[]`, `data[]`,
    /// `recorded_at[]`, `recorded_nanos[]`. Returns the actors whose batch was accepted.
    pub(crate) append: String,
    /// The latest versions of several actors (after a conflict).
    pub(crate) latest_versions: String,
    /// One actor's latest version.
    pub(crate) latest_version: String,
    /// One actor's events from a version on.
    pub(crate) events: String,
    /// Saves a snapshot unless a newer one is stored.
    pub(crate) save_snapshot: String,
    /// One actor's snapshot.
    pub(crate) snapshot: String,
}

impl Statements {
    pub(crate) fn new(quoted: &str) -> Self {
        let s = quoted;
        Statements {
            // The guard is the conditional upsert on `actors`: it takes the actor's row
            // lock and sees the latest committed version (ON CONFLICT reads past the
            // statement's snapshot), so the check and the write are one atomic step. The
            // proposed row carries the batch's first version, so the condition compares
            // within the row (a lookup into the batch list per row would be quadratic).
            // Batches are locked in the order given (the caller sorts them), so two group
            // statements never wait on each other in a cycle.
            append: format!(
                r#"WITH accepted AS (
    INSERT INTO {s}.actors AS a (actor_id, latest_version, latest_batch_first_version)
    SELECT b.actor_id, b.last_version, b.first_version
    FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])
         WITH ORDINALITY AS b(actor_id, first_version, last_version, ord)
    ORDER BY b.ord
    ON CONFLICT (actor_id) DO UPDATE
    SET latest_version = EXCLUDED.latest_version,
        latest_batch_first_version = EXCLUDED.latest_batch_first_version
    WHERE a.latest_version < EXCLUDED.latest_batch_first_version
    RETURNING a.actor_id
), inserted AS (
    INSERT INTO {s}.events
        (actor_id, version, event_id, event_type, command_id, data, recorded_at, recorded_nanos)
    SELECT e.actor_id, e.version, e.event_id, e.event_type, e.command_id, e.data,
           e.recorded_at, e.recorded_nanos
    FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::jsonb[],
                $10::timestamptz[], $11::integer[])
         AS e(actor_id, version, event_id, event_type, command_id, data, recorded_at,
              recorded_nanos)
    WHERE e.actor_id IN (SELECT actor_id FROM accepted)
    RETURNING 1
)
SELECT actor_id FROM accepted"#
            ),
            latest_versions: format!(
                "SELECT actor_id, latest_version FROM {s}.actors WHERE actor_id = ANY($1::text[])"
            ),
            latest_version: format!("SELECT latest_version FROM {s}.actors WHERE actor_id = $1"),
            events: format!(
                "SELECT version, event_id, event_type, command_id, data, recorded_at, \
                 recorded_nanos FROM {s}.events WHERE actor_id = $1 AND version >= $2 \
                 ORDER BY version"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots AS sn \
                 (actor_id, version, state, recorded_at, recorded_nanos) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (actor_id) DO UPDATE SET version = EXCLUDED.version, \
                 state = EXCLUDED.state, recorded_at = EXCLUDED.recorded_at, \
                 recorded_nanos = EXCLUDED.recorded_nanos \
                 WHERE sn.version <= EXCLUDED.version"
            ),
            snapshot: format!(
                "SELECT version, state, recorded_at, recorded_nanos FROM {s}.snapshots \
                 WHERE actor_id = $1"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_quoted_or_refused() {
        assert_eq!(quote_schema("tenant_a").unwrap(), "\"tenant_a\"");
        assert_eq!(quote_schema("a\"b").unwrap(), "\"a\"\"b\"");
        assert!(quote_schema("").is_err());
        assert!(quote_schema("a\0b").is_err());
        assert!(quote_schema(&"x".repeat(64)).is_err());
        assert!(quote_schema("pg_temp").is_err());
    }
}
