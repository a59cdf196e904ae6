//! A read model on the embedded SQLite store, fed exactly once: the accounts of the
//! quickstart, projected into two tables of the same file (`ledger`, one row per event,
//! and `balances`), each batch of events written in the transaction that also moves the
//! projection's checkpoint.
//!
//! The projection handles `Decoded<Entry>` items: each event is decoded into the
//! account's own event type (through its upcasters, `decode_event_ref`) on the thread that
//! reads the feed, straight from the stored JSON, with no owned copy of the stored event:
//! the fast way to catch up on a long history (README, "Catching up fast").
//!
//! Run it twice: the second run adds new events and the projection resumes after its
//! checkpoint, handling only those.
//!
//! ```text
//! cargo run --example read_model          # writes ./read_model.db
//! cargo run --example read_model          # again: resumes
//! ```

#[allow(dead_code)]
#[path = "quickstart.rs"]
mod quickstart;

use std::path::Path;
use std::sync::Arc;

use aether::feed::{Decoded, EventRef, FeedDecode, FeedFilter, HandlerError};
use aether::projection::{self, ProjectionOptions};
use aether::sqlite::rusqlite::{params, Transaction};
use aether::sqlite::{SqliteProjection, SqliteStore};
use aether::{decode_event_ref, EventSourced, Runtime};
use quickstart::{Account, AccountCommands, AccountEvent};

/// The ledger projection: a row per account event, and each account's balance.
pub(crate) struct Ledger;

/// What the ledger needs of a stored event: the account, the version, and the event in
/// its current shape.
#[derive(Clone)]
pub(crate) struct Entry {
    account: String,
    version: i64,
    event: AccountEvent,
}

impl FeedDecode for Entry {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        Ok(Entry {
            account: event.actor_id.to_owned(),
            version: event.version,
            // Through the actor type's upcasters, if any.
            event: decode_event_ref::<Account>(event)?,
        })
    }
}

/// The read model's tables, created by the first batch (in its transaction).
const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS ledger (
        position TEXT    PRIMARY KEY,
        account  TEXT    NOT NULL,
        version  INTEGER NOT NULL,
        kind     TEXT    NOT NULL,
        amount   INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS balances (
        account TEXT    PRIMARY KEY,
        owner   TEXT    NOT NULL,
        balance INTEGER NOT NULL
    );";

impl SqliteProjection<Decoded<Entry>> for Ledger {
    fn handle(&mut self, tx: &Transaction<'_>, item: &Decoded<Entry>) -> Result<(), HandlerError> {
        tx.execute_batch(TABLES)?;
        let Entry {
            account,
            version,
            event,
        } = &item.event;
        let (kind, amount): (&str, i64) = match event {
            AccountEvent::Opened { owner } => {
                tx.execute(
                    "INSERT INTO balances (account, owner, balance) VALUES (?1, ?2, 0)",
                    params![account, owner],
                )?;
                ("opened", 0)
            }
            AccountEvent::Deposited { amount } => ("deposited", *amount as i64),
            AccountEvent::Withdrawn { amount } => ("withdrawn", -(*amount as i64)),
        };
        tx.execute(
            "UPDATE balances SET balance = balance + ?2 WHERE account = ?1",
            params![account, amount],
        )?;
        // A primary key on the position: were an event ever handled twice, the batch
        // would fail instead of counting it twice.
        tx.execute(
            "INSERT INTO ledger (position, account, version, kind, amount) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![item.position.to_string(), account, version, kind, amount],
        )?;
        Ok(())
    }

    fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        tx.execute_batch(TABLES)?;
        tx.execute_batch("DELETE FROM ledger; DELETE FROM balances;")?;
        Ok(())
    }
}

/// What one run saw.
#[derive(Debug, PartialEq)]
pub(crate) struct Seen {
    /// Events the projection handled in this run.
    pub(crate) handled: u64,
    /// Rows of the ledger table at the end.
    pub(crate) ledger_rows: i64,
    /// Ada's balance in the read model at the end.
    pub(crate) balance: i64,
}

/// Writes a few account events, then runs the projection until it has handled every
/// event stored.
pub(crate) async fn run(path: &Path) -> Result<Seen, Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open(path).await?);
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("ada");
    if account.owner().await?.is_none() {
        account.open("Ada".into()).await?;
    }
    account.deposit(100).await?;
    account.withdraw(30).await?;
    runtime.shutdown().await;

    let sink = store.exactly_once(Ledger);
    let options =
        ProjectionOptions::new().filter(FeedFilter::all().actor_type(Account::ACTOR_TYPE));
    let ledger = projection::spawn("ledger", store.clone(), sink, options);
    ledger.wait_for_head().await?;
    let handled = ledger.status().handled;
    ledger.stop().await;

    // Read the model with plain SQL, as any reporting tool would.
    let conn = aether::sqlite::rusqlite::Connection::open(path)?;
    let ledger_rows = conn.query_row("SELECT count(*) FROM ledger", [], |row| row.get(0))?;
    let balance = conn.query_row(
        "SELECT balance FROM balances WHERE account = 'Account|ada'",
        [],
        |row| row.get(0),
    )?;
    Ok(Seen {
        handled,
        ledger_rows,
        balance,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "read_model.db".into());
    let seen = run(path.as_ref()).await?;
    println!(
        "handled {} new events; the ledger has {} rows; Ada's balance is {}",
        seen.handled, seen.ledger_rows, seen.balance
    );
    println!("run again: the projection resumes after its checkpoint");
    Ok(())
}
