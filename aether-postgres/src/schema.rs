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
pub const SCHEMA_VERSION: i64 = 2;

/// Migration steps: `MIGRATIONS[i]` brings a schema from layout `i` to layout `i + 1`.
/// Each step runs inside the migration transaction; `{s}` is the quoted schema and
/// `{s_lit}` the quoted schema as it goes inside an SQL string literal (`'{s_lit}.name'`).
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
    // 1 -> 2: the feed (each event's transaction id and sequence number, see the crate
    // docs' "Feed" section), the actors' last writing transaction (keeps an actor's
    // events in version order in the feed), and the projections' checkpoints.
    //
    // Rows written before get the migration's transaction id (a constant default is
    // stored once, without rewriting the table) and sequence numbers that keep each
    // actor's events in version order: all rows are ranked by time, and each actor's
    // k-th version gets the k-th of the ranks its own rows hold.
    r#"
    ALTER TABLE {s}.events ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
    ALTER TABLE {s}.events ADD COLUMN seq bigint;
    CREATE SEQUENCE {s}.events_seq AS bigint OWNED BY {s}.events.seq;
    WITH ranked AS (
        SELECT actor_id, version,
               row_number() OVER (ORDER BY recorded_at, recorded_nanos, actor_id, version) AS slot,
               row_number() OVER (PARTITION BY actor_id ORDER BY version) AS k
        FROM {s}.events
    ), slots AS (
        SELECT actor_id, slot, row_number() OVER (PARTITION BY actor_id ORDER BY slot) AS k
        FROM ranked
    )
    UPDATE {s}.events AS e SET seq = sl.slot
    FROM ranked AS r JOIN slots AS sl ON sl.actor_id = r.actor_id AND sl.k = r.k
    WHERE e.actor_id = r.actor_id AND e.version = r.version;
    SELECT setval('{s_lit}.events_seq', COALESCE((SELECT max(seq) FROM {s}.events), 0) + 1, false);
    ALTER TABLE {s}.events
        ALTER COLUMN seq SET DEFAULT nextval('{s_lit}.events_seq'),
        ALTER COLUMN seq SET NOT NULL;
    CREATE INDEX events_feed_order ON {s}.events (tx_id, seq);
    ALTER TABLE {s}.actors ADD COLUMN last_tx xid8 NOT NULL DEFAULT '0';
    CREATE TABLE {s}.projection_checkpoints (
        name        text        PRIMARY KEY,
        position    text        NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON COLUMN {s}.events.tx_id IS
        'aether: the appending transaction; the feed is ordered by (tx_id, seq) and shows only rows below pg_snapshot_xmin(pg_current_snapshot())';
    COMMENT ON COLUMN {s}.events.seq IS
        'aether: the place of the event in its transaction (a global sequence)';
    COMMENT ON COLUMN {s}.actors.last_tx IS
        'aether: the transaction that last appended to the actor (a later batch needs a higher one, so the feed keeps versions in order)';
    COMMENT ON TABLE {s}.projection_checkpoints IS
        'aether: the feed position ("tx_id:seq") up to which each projection has handled events';
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
        .try_get(0)
        .map_err(fail)?;
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
        let sql = sql
            .replace("{s}", &quoted)
            .replace("{s_lit}", &quoted.replace('\'', "''"));
        tx.batch_execute(&sql).await.map_err(fail)?;
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
    /// A page of the feed, the head below the same horizon, and the highest transaction
    /// id of committed events after `after` still above it (held back). Parameters:
    /// `after`'s transaction id (text), `after`'s sequence number, actor types, event
    /// types, limit.
    pub(crate) read_feed: String,
    /// The position of the last event below the horizon.
    pub(crate) feed_head: String,
    /// How many visible events come after a position (transaction id as text, sequence).
    pub(crate) feed_lag: String,
    /// Whether an event after a position is below the horizon.
    pub(crate) feed_ready: String,
    /// Whether the horizon has passed a transaction id (text).
    pub(crate) horizon_passed: String,
    /// A projection's checkpoint.
    pub(crate) load_checkpoint: String,
    /// Writes a projection's checkpoint (name, position as text).
    pub(crate) save_checkpoint: String,
    /// Forgets a projection's checkpoint.
    pub(crate) delete_checkpoint: String,
}

/// The condition that a row's transaction has ended, and so every row below it: the
/// feed's horizon (see the crate docs' "Feed" section).
const BELOW_HORIZON: &str = "tx_id < pg_snapshot_xmin(pg_current_snapshot())";

/// The condition that a row comes after the position `($1, $2)`: a row comparison the
/// `(tx_id, seq)` index serves.
const AFTER_POSITION: &str = "(tx_id, seq) > ($1::text::xid8, $2::bigint)";

/// The longest channel name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_CHANNEL_LEN: usize = 63;

/// The `LISTEN`/`NOTIFY` channel of a schema's feed: `aether_feed:<schema>`, or for a name
/// too long for PostgreSQL's 63 bytes, its start and a stable 64-bit hash of the whole
/// name (FNV-1a, the same in every process and build).
pub(crate) fn notify_channel(schema: &str) -> String {
    let full = format!("aether_feed:{schema}");
    if full.len() <= MAX_CHANNEL_LEN {
        return full;
    }
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!(":{hash:016x}");
    let mut cut = MAX_CHANNEL_LEN - suffix.len();
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &full[..cut])
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
            //
            // The feed orders events by (tx_id, seq). A group takes its transaction id
            // before it locks its first actor and may then wait for another actor's row,
            // which a later transaction (a higher id) is writing; appending after that
            // one would put the actor's next version before the previous one in the
            // feed. So the upsert also requires the actor's last writing transaction to
            // be below this one (`last_tx`); a batch refused for that alone is retried
            // in a fresh transaction (see the writer). The events are inserted in the
            // order given, so `seq` follows the versions within the group.
            //
            // No NOTIFY here: one inside the transaction would make its commit wait for
            // every other notifying commit of the cluster (see `feed::notifier`); the
            // writer has it sent after the commit. (PostgreSQL runs a data-modifying CTE
            // whether or not the query reads it.)
            append: format!(
                r#"WITH accepted AS (
    INSERT INTO {s}.actors AS a (actor_id, latest_version, latest_batch_first_version, last_tx)
    SELECT b.actor_id, b.last_version, b.first_version, pg_current_xact_id()
    FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])
         WITH ORDINALITY AS b(actor_id, first_version, last_version, ord)
    ORDER BY b.ord
    ON CONFLICT (actor_id) DO UPDATE
    SET latest_version = EXCLUDED.latest_version,
        latest_batch_first_version = EXCLUDED.latest_batch_first_version,
        last_tx = EXCLUDED.last_tx
    WHERE a.latest_version < EXCLUDED.latest_batch_first_version
      AND a.last_tx < EXCLUDED.last_tx
    RETURNING a.actor_id
), inserted AS (
    INSERT INTO {s}.events
        (actor_id, version, event_id, event_type, command_id, data, recorded_at, recorded_nanos)
    SELECT e.actor_id, e.version, e.event_id, e.event_type, e.command_id, e.data,
           e.recorded_at, e.recorded_nanos
    FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::jsonb[],
                $10::timestamptz[], $11::integer[])
         WITH ORDINALITY AS e(actor_id, version, event_id, event_type, command_id, data,
                              recorded_at, recorded_nanos, ord)
    WHERE e.actor_id IN (SELECT actor_id FROM accepted)
    ORDER BY e.ord
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
            // The head is read in the same statement, so below the same horizon: a page
            // that is not full may move `next` up to it (past events the filter left
            // out) without passing an event that could still appear.
            read_feed: format!(
                r#"WITH page AS (
    SELECT tx_id, seq, actor_id, version, event_id, event_type, command_id, data,
           recorded_at, recorded_nanos
    FROM {s}.events
    WHERE {AFTER_POSITION}
      AND {BELOW_HORIZON}
      AND (cardinality($3::text[]) = 0
           OR (strpos(actor_id, '|') > 0 AND split_part(actor_id, '|', 1) = ANY($3::text[])))
      AND (cardinality($4::text[]) = 0 OR event_type = ANY($4::text[]))
    ORDER BY tx_id, seq
    LIMIT $5
)
SELECT hd.tx_id::text AS head_tx, hd.seq AS head_seq,
       (SELECT max(tx_id) FROM {s}.events
        WHERE {AFTER_POSITION} AND tx_id >= pg_snapshot_xmin(pg_current_snapshot())
       )::text AS held_tx,
       p.tx_id::text AS tx, p.seq, p.actor_id, p.version, p.event_id, p.event_type,
       p.command_id, p.data, p.recorded_at, p.recorded_nanos
FROM (SELECT 1) AS one
LEFT JOIN (
    SELECT tx_id, seq FROM {s}.events WHERE {BELOW_HORIZON}
    ORDER BY tx_id DESC, seq DESC LIMIT 1
) AS hd ON true
LEFT JOIN page AS p ON true
ORDER BY p.tx_id, p.seq"#
            ),
            feed_head: format!(
                "SELECT tx_id::text, seq FROM {s}.events WHERE {BELOW_HORIZON} \
                 ORDER BY tx_id DESC, seq DESC LIMIT 1"
            ),
            feed_lag: format!("SELECT count(*) FROM {s}.events WHERE {AFTER_POSITION}"),
            feed_ready: format!(
                "SELECT EXISTS (SELECT 1 FROM {s}.events WHERE {AFTER_POSITION} \
                 AND {BELOW_HORIZON})"
            ),
            horizon_passed: "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8"
                .to_owned(),
            load_checkpoint: format!(
                "SELECT position FROM {s}.projection_checkpoints WHERE name = $1"
            ),
            save_checkpoint: format!(
                "INSERT INTO {s}.projection_checkpoints (name, position) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, \
                 updated_at = now()"
            ),
            delete_checkpoint: format!("DELETE FROM {s}.projection_checkpoints WHERE name = $1"),
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

    #[test]
    fn channel_names_fit_and_stay_apart() {
        assert_eq!(notify_channel("aether"), "aether_feed:aether");
        let long_a = format!("{}a", "é".repeat(31));
        let long_b = format!("{}b", "é".repeat(31));
        let (a, b) = (notify_channel(&long_a), notify_channel(&long_b));
        assert!(a.len() <= MAX_CHANNEL_LEN && b.len() <= MAX_CHANNEL_LEN);
        assert_ne!(a, b);
        assert_eq!(a, notify_channel(&long_a), "stable");
    }
}
