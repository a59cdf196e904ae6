//! Section `hot` (issue 15): one hot actor. 64 clients ask the same actor concurrently
//! on `SqliteStore` (`synchronous = FULL`, the store's default): with `max_batch = 1`
//! every command is its own append (one fsync each); with the default the commands
//! waiting in the mailbox go in one append. Beside them, raw rusqlite on the same schema
//! and statements, 1 event per transaction (the reference) and 64 (the limit of batching).

use std::sync::Arc;
use std::time::Duration;

use aether_runtime::Runtime;
use aether_sqlite::SqliteStore;

use crate::domain::{Account, AetherClient};
use crate::harness::{new_rt, warm_then_run};
use crate::stats::{Measured, Row};
use crate::stores::{data_dir, sqlite_raw};
use crate::Config;

/// Concurrent clients of the one actor (the default mailbox capacity).
const CLIENTS: usize = 64;

/// `CLIENTS` clients asking one actor of a runtime built with `max_batch`.
async fn one_actor(store: SqliteStore, max_batch: Option<usize>, dur: Duration) -> Measured {
    tokio::spawn(async move {
        let builder = Runtime::builder(Arc::new(store));
        let runtime = match max_batch {
            Some(max) => builder.max_batch(max),
            None => builder,
        }
        .build();
        let clients = (0..CLIENTS)
            .map(|_| AetherClient(runtime.actor::<Account>("hot")))
            .collect();
        let m = warm_then_run(clients, dur).await;
        runtime.shutdown().await;
        m
    })
    .await
    .expect("measurement task")
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, String> {
    let dir = data_dir("hot");
    let workload = format!("SQLite (FULL): one hot actor, {CLIENTS} clients");
    let mut rows = Vec::new();
    let runs = [
        (Some(1), "aether, max_batch 1 (one append per command)"),
        (None, "aether, default max_batch (64)"),
    ];
    for (i, (max_batch, system)) in runs.into_iter().enumerate() {
        let path = dir.join(format!("aether-{i}.db"));
        let m = new_rt().block_on(async {
            let store = SqliteStore::open(&path).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(one_actor(store, max_batch, cfg.dur).await)
        })?;
        let row = Row::new(&workload, system, &m).note("p50/p99 per ask");
        crate::progress(Some(&row));
        rows.push(row);
    }
    // Raw: the schema comes from the store itself, then rusqlite alone.
    for (i, (batch, system, note)) in [
        (
            1,
            "raw rusqlite, 1 event per transaction",
            "same schema and statements; p50/p99 per transaction",
        ),
        (
            CLIENTS,
            "raw rusqlite, 64 events per transaction",
            "the batching limit: one actor's 64 events per transaction; p50/p99 per transaction",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(format!("raw-{i}.db"));
        new_rt().block_on(async {
            let store = SqliteStore::open(&path).await.map_err(|e| e.to_string())?;
            store.close().await.map_err(|e| e.to_string())
        })?;
        let raw = Row::new(&workload, system, &sqlite_raw(&path, 1, batch, cfg.dur)).note(note);
        crate::progress(Some(&raw));
        rows.push(raw);
    }
    let base = rows[2].value;
    for row in &mut rows {
        *row = row.clone().vs(base, "raw 1/txn");
    }
    rows[2].ratio = Some((1.0, "ref".into()));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
