//! `aether import`: saves the events of JSON lines from stdin, each actor's consecutive
//! events as one batch, keeping their versions; refuses conflicts.
//!
//! The whole input is read and checked first, so a malformed line stops the import
//! before anything is saved. Actors are saved concurrently, each one's batches in order;
//! after a conflict the rest of that actor's events are not saved (they would leave a
//! history with a hole).

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;

use aether::{AnyStore, Event, EventStore, StoreError};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::commands::export::progress;
use crate::error::CliError;
use crate::output;

/// The most events saved in one batch.
const MAX_BATCH: usize = 256;
/// How many actors are saved at once.
const CONCURRENT_ACTORS: usize = 16;

/// One actor whose events were refused, as `--json` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Refused {
    actor_id: String,
    first_version: i64,
    events_not_saved: usize,
    reason: String,
}

pub(crate) async fn run(store: &AnyStore, json: bool) -> Result<ExitCode, CliError> {
    let actors = read_input()?;
    let total: usize = actors
        .iter()
        .map(|(_, batches)| batches.iter().map(Vec::len).sum::<usize>())
        .sum();
    let bar = progress(total as u64, "importing");
    let results: Vec<(usize, Option<Refused>)> = stream::iter(actors)
        .map(|(actor_id, batches)| {
            let bar = bar.clone();
            async move { save_actor(store, actor_id, batches, &bar).await }
        })
        .buffer_unordered(CONCURRENT_ACTORS)
        .collect()
        .await;
    bar.finish_and_clear();
    let saved: usize = results.iter().map(|(n, _)| n).sum();
    let mut refused: Vec<Refused> = results.into_iter().filter_map(|(_, r)| r).collect();
    refused.sort_by(|a, b| a.actor_id.cmp(&b.actor_id));
    for r in &refused {
        if json {
            output::json_line(r)?;
        } else {
            eprintln!(
                "aether: error: actor {:?}: {} events from version {} not imported: {}",
                r.actor_id, r.events_not_saved, r.first_version, r.reason
            );
        }
    }
    eprintln!("imported {saved} of {total} events");
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One actor's events, in batches of consecutive versions.
type ActorBatches = (String, Vec<Vec<Event>>);

/// Reads every line, grouping each actor's consecutive events into batches, in input
/// order of first appearance.
fn read_input() -> Result<Vec<ActorBatches>, CliError> {
    let mut order: Vec<String> = Vec::new();
    let mut actors: HashMap<String, Vec<Vec<Event>>> = HashMap::new();
    let mut last_actor: Option<String> = None;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line).map_err(|err| CliError::BadLine {
            line: n + 1,
            reason: err.to_string(),
        })?;
        let batches = actors.entry(event.actor_id.clone()).or_insert_with(|| {
            order.push(event.actor_id.clone());
            Vec::new()
        });
        let continues = last_actor.as_deref() == Some(event.actor_id.as_str())
            && batches.last().is_some_and(|b| {
                b.len() < MAX_BATCH && b.last().is_some_and(|e| e.version < event.version)
            });
        last_actor = Some(event.actor_id.clone());
        match batches.last_mut() {
            Some(batch) if continues => batch.push(event),
            _ => batches.push(vec![event]),
        }
    }
    Ok(order
        .into_iter()
        .map(|actor| {
            let batches = actors.remove(&actor).unwrap_or_default();
            (actor, batches)
        })
        .collect())
}

/// Saves one actor's batches in order; stops at the first refused one.
async fn save_actor(
    store: &AnyStore,
    actor_id: String,
    batches: Vec<Vec<Event>>,
    bar: &indicatif::ProgressBar,
) -> (usize, Option<Refused>) {
    let mut saved = 0;
    let mut rest: usize = batches.iter().map(Vec::len).sum();
    for batch in batches {
        let first_version = batch[0].version;
        let len = batch.len();
        match store.append_events(batch).await {
            Ok(()) => {
                saved += len;
                rest -= len;
                bar.inc(len as u64);
            }
            Err(err) => {
                let reason = match &err {
                    StoreError::VersionConflict(_) => {
                        format!("conflicts with the stored history: {err}")
                    }
                    _ => err.to_string(),
                };
                return (
                    saved,
                    Some(Refused {
                        actor_id,
                        first_version,
                        events_not_saved: rest,
                        reason,
                    }),
                );
            }
        }
    }
    (saved, None)
}
