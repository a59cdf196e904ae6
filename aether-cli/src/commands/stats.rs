//! `aether stats`: events, actors, and the size on disk of a SQLite store.

use std::collections::HashSet;
use std::process::ExitCode;

use aether::feed::{EventFeed, FeedFilter, Position};
use aether::AnyStore;
use serde::Serialize;

use crate::error::CliError;
use crate::output;
use crate::scan::{Item, Scanner};

/// What `stats` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    store: String,
    kind: String,
    events: u64,
    actors: usize,
    undecodable_rows: u64,
    /// What the backend says the store takes, in bytes: SQLite, the database file plus
    /// its `-wal`; PostgreSQL, the schema's tables with their indexes and TOAST;
    /// NATS, the events stream plus the snapshot (and checkpoint) buckets' streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_on_disk: Option<u64>,
}

pub(crate) async fn run(store: &AnyStore, json: bool) -> Result<ExitCode, CliError> {
    let mut actors = HashSet::new();
    let mut undecodable = 0;
    let mut scan = Scanner::new(store.feed(), FeedFilter::all()).await?;
    while let Some(item) = scan.next().await? {
        match item {
            Item::Event(feed_event) => {
                actors.insert(feed_event.event.actor_id);
            }
            Item::Bad { actor_id, .. } => {
                undecodable += 1;
                actors.insert(actor_id);
            }
        }
    }
    let stats = Stats {
        store: store.url().to_owned(),
        kind: store.kind().to_string(),
        events: store.feed_lag(Position::START).await?,
        actors: actors.len(),
        undecodable_rows: undecodable,
        bytes_on_disk: size(store).await,
    };
    if json {
        output::json_line(&stats)?;
    } else {
        println!("store    {} ({})", stats.store, stats.kind);
        println!("events   {}", stats.events);
        println!("actors   {}", stats.actors);
        if stats.undecodable_rows > 0 {
            println!("bad rows {} (run `aether verify`)", stats.undecodable_rows);
        }
        if let Some(bytes) = stats.bytes_on_disk {
            println!("size     {} ({})", human_bytes(bytes), size_meaning(store));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The store's size as its backend tells it; `None` where it cannot (in memory, or the
/// backend refused: a size is a nicety, never a reason to fail `stats`).
async fn size(store: &AnyStore) -> Option<u64> {
    #[cfg(feature = "sqlite")]
    if let Some(sqlite) = store.downcast_ref::<aether::sqlite::SqliteStore>() {
        let path = sqlite.path();
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        return Some(size(path) + size(std::path::Path::new(&wal)));
    }
    #[cfg(feature = "postgres")]
    if let Some(pg) = store.downcast_ref::<aether::postgres::PostgresStore>() {
        let client = pg.pool().get().await.ok()?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&pg.schema()],
            )
            .await
            .ok()?;
        return u64::try_from(row.get::<_, i64>(0)).ok();
    }
    #[cfg(feature = "nats")]
    if let Some(nats) = store.downcast_ref::<aether::nats::NatsStore>() {
        let js = async_nats::jetstream::new(nats.client().clone());
        let layout = nats.layout();
        let mut total = 0;
        let snapshots = format!("KV_{}", layout.snapshot_bucket());
        let checkpoints = format!("KV_{}", layout.checkpoint_bucket());
        for (i, stream) in [layout.events_stream(), &snapshots, &checkpoints]
            .into_iter()
            .enumerate()
        {
            match js.get_stream(stream).await {
                Ok(mut s) => total += s.info().await.ok()?.state.bytes,
                // The checkpoint bucket is made on first use.
                Err(_) if i == 2 => {}
                Err(_) => return None,
            }
        }
        return Some(total);
    }
    let _ = store;
    None
}

fn size_meaning(store: &AnyStore) -> &'static str {
    match store.kind() {
        aether::StoreKind::Sqlite => "file + wal",
        aether::StoreKind::Postgres => "the schema's tables, indexes and TOAST",
        aether::StoreKind::Nats => "events stream + snapshot and checkpoint buckets",
        _ => "as the backend tells",
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
    }
}
