//! Read models shared by the decoded-projection tests of aether-sqlite
//! (`tests/decoded_projections.rs`) and of the runner (the root crate's
//! `tests/sqlite_projection_decoded.rs`, which includes this file by path): totals per
//! actor in a table, fed owned events or decoded `Movement`s.
#![allow(dead_code, unreachable_pub)]

use aether_core::{Decoded, EventRef, FeedDecode, FeedEvent, HandlerError, Position};
use aether_sqlite::rusqlite::{params, Connection, Transaction};
use aether_sqlite::SqliteProjection;

/// Adds `amount` to `actor`'s row of `table` (total and count), creating the table.
pub fn add(
    tx: &Transaction<'_>,
    table: &str,
    actor: &str,
    amount: i64,
) -> Result<(), HandlerError> {
    tx.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS {table} \
             (actor_id TEXT PRIMARY KEY, total INTEGER NOT NULL, n INTEGER NOT NULL)"
        ),
        [],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO {table} (actor_id, total, n) VALUES (?1, ?2, 1) \
             ON CONFLICT (actor_id) DO UPDATE SET total = total + ?2, n = n + 1"
        ),
        params![actor, amount],
    )?;
    Ok(())
}

/// Totals per actor of the owned events, in `table`.
pub struct OwnedTotals {
    pub table: &'static str,
}

impl SqliteProjection for OwnedTotals {
    fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
        let amount = event.event.data["amount"]
            .as_i64()
            .ok_or_else(|| format!("no amount in {}", event.event.data))?;
        add(tx, self.table, &event.event.actor_id, amount)
    }
}

/// What the decoded projection reads of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    pub actor_id: String,
    pub amount: i64,
}

impl FeedDecode for Movement {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        // (No serde derive in this crate's tests: the payload as a JSON value.)
        let data: serde_json::Value = event.data.decode()?;
        let amount = data["amount"]
            .as_i64()
            .ok_or_else(|| format!("no amount in {data}"))?;
        Ok(Movement {
            actor_id: event.actor_id.to_owned(),
            amount,
        })
    }
}

/// Totals per actor of the decoded events, in `table`; fails on the event at `fail_at`.
pub struct DecodedTotals {
    pub table: &'static str,
    pub fail_at: Option<Position>,
}

impl SqliteProjection<Decoded<Movement>> for DecodedTotals {
    fn handle(
        &mut self,
        tx: &Transaction<'_>,
        item: &Decoded<Movement>,
    ) -> Result<(), HandlerError> {
        if Some(item.position) == self.fail_at {
            return Err(format!("refusing the event at {}", item.position).into());
        }
        add(tx, self.table, &item.event.actor_id, item.event.amount)
    }
}

/// The rows of `table` as another connection sees them: (actor, total, count).
pub fn rows(path: &std::path::Path, table: &str) -> Vec<(String, i64, i64)> {
    let conn = Connection::open(path).unwrap();
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    if !exists {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT actor_id, total, n FROM {table} ORDER BY actor_id"
        ))
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
