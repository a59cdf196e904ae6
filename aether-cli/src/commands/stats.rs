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
    /// SQLite only: the database file plus its `-wal` file, in bytes.
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
        bytes_on_disk: size_on_disk(store),
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
            println!("on disk  {} (file + wal)", human_bytes(bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "sqlite")]
fn size_on_disk(store: &AnyStore) -> Option<u64> {
    let path = store.downcast_ref::<aether::sqlite::SqliteStore>()?.path();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Some(size(path) + size(std::path::Path::new(&wal)))
}

#[cfg(not(feature = "sqlite"))]
fn size_on_disk(_: &AnyStore) -> Option<u64> {
    None
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
