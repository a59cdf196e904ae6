//! `aether actors`: one line per actor, from a scan of the feed and each actor's latest
//! snapshot.

use std::collections::BTreeMap;
use std::process::ExitCode;

use aether::{AnyStore, SnapshotStore, Timestamp};
use serde::Serialize;

use crate::error::CliError;
use crate::output;
use crate::scan::{Item, Scanner};

/// What `actors` shows of one actor.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorLine {
    actor_id: String,
    version: i64,
    events: u64,
    last_write: Timestamp,
    snapshot_version: Option<i64>,
}

pub(crate) async fn run(
    store: &AnyStore,
    actor_type: Option<String>,
    limit: Option<usize>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mut actors: BTreeMap<String, ActorLine> = BTreeMap::new();
    let mut bad = 0u64;
    let mut scan = Scanner::new(store.feed(), super::filter(actor_type, None)).await?;
    while let Some(item) = scan.next().await? {
        let event = match item {
            Item::Event(feed_event) => feed_event.event,
            Item::Bad { .. } => {
                bad += 1;
                continue;
            }
        };
        let line = actors
            .entry(event.actor_id.clone())
            .or_insert_with(|| ActorLine {
                actor_id: event.actor_id.clone(),
                version: event.version,
                events: 0,
                last_write: event.timestamp,
                snapshot_version: None,
            });
        line.version = line.version.max(event.version);
        line.events += 1;
        line.last_write = line.last_write.max(event.timestamp);
    }
    let mut lines: Vec<ActorLine> = actors.into_values().collect();
    if let Some(limit) = limit {
        lines.truncate(limit);
    }
    for line in &mut lines {
        line.snapshot_version = store
            .get_latest_snapshot(&line.actor_id)
            .await?
            .map(|s| s.version);
    }
    if json {
        for line in &lines {
            output::json_line(line)?;
        }
    } else {
        let rows: Vec<Vec<String>> = lines
            .iter()
            .map(|l| {
                vec![
                    l.actor_id.clone(),
                    l.version.to_string(),
                    l.events.to_string(),
                    output::time(&l.last_write),
                    l.snapshot_version
                        .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                ]
            })
            .collect();
        output::table(
            &["ACTOR", "VERSION", "EVENTS", "LAST WRITE", "SNAPSHOT"],
            &rows,
        )?;
    }
    if bad > 0 {
        eprintln!("aether: warning: {bad} stored rows do not decode; run `aether verify`");
    }
    Ok(ExitCode::SUCCESS)
}
