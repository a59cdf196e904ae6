//! `aether verify [ACTOR]`: reads the whole feed and each actor's snapshot, and names
//! every problem found.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use aether::feed::actor_type_of;
use aether::feed::Position;
use aether::{AnyStore, SnapshotStore};
use serde::Serialize;

use crate::error::CliError;
use crate::output;
use crate::scan::{Item, Scanner};

/// One problem, as `--json` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    kind: &'static str,
    actor_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<Position>,
    message: String,
}

/// The report `--json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    ok: bool,
    events: u64,
    actors: usize,
    problems: Vec<Problem>,
}

pub(crate) async fn run(
    store: &AnyStore,
    actor: Option<String>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let actor_type = actor.as_deref().and_then(actor_type_of).map(str::to_owned);
    let mut scan = Scanner::new(store.feed(), super::filter(actor_type, None)).await?;
    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    let mut ids: HashMap<String, (String, i64)> = HashMap::new();
    let mut problems = Vec::new();
    let mut events = 0u64;
    while let Some(item) = scan.next().await? {
        let feed_event = match item {
            Item::Event(feed_event) => feed_event,
            Item::Bad {
                position,
                actor_id,
                version,
                reason,
            } => {
                if actor.as_ref().is_none_or(|a| *a == actor_id) {
                    problems.push(Problem {
                        kind: "undecodable",
                        message: format!(
                            "the row at feed position {position} (actor {actor_id:?}, \
                             version {version}) does not decode: {reason}"
                        ),
                        actor_id,
                        version: Some(version),
                        position: Some(position),
                    });
                }
                continue;
            }
        };
        let (position, event) = (feed_event.position, feed_event.event);
        if actor.as_ref().is_some_and(|a| *a != event.actor_id) {
            continue;
        }
        events += 1;
        let previous = latest.insert(event.actor_id.clone(), event.version);
        if let Some(previous) = previous.filter(|p| *p >= event.version) {
            problems.push(Problem {
                kind: "version-order",
                message: format!(
                    "actor {:?}: version {} at feed position {position} comes after version \
                     {previous}: versions must ascend strictly",
                    event.actor_id, event.version
                ),
                actor_id: event.actor_id.clone(),
                version: Some(event.version),
                position: Some(position),
            });
            latest.insert(event.actor_id.clone(), previous);
        }
        if let Some((other_actor, other_version)) =
            ids.insert(event.id.clone(), (event.actor_id.clone(), event.version))
        {
            problems.push(Problem {
                kind: "duplicate-id",
                message: format!(
                    "event id {:?} is used twice: actor {other_actor:?} version {other_version} \
                     and actor {:?} version {} (feed position {position})",
                    event.id, event.actor_id, event.version
                ),
                actor_id: event.actor_id.clone(),
                version: Some(event.version),
                position: Some(position),
            });
        }
    }
    let mut checked: Vec<(String, i64)> = latest.into_iter().collect();
    if let Some(actor) = &actor {
        if checked.is_empty() {
            checked.push((actor.clone(), 0));
        }
    }
    for (actor_id, version) in &checked {
        match store.get_latest_snapshot(actor_id).await {
            Ok(Some(snapshot)) if snapshot.version > *version => problems.push(Problem {
                kind: "snapshot-ahead",
                message: format!(
                    "actor {actor_id:?}: the latest snapshot is at version {}, ahead of the \
                     latest event (version {version})",
                    snapshot.version
                ),
                actor_id: actor_id.clone(),
                version: Some(snapshot.version),
                position: None,
            }),
            Ok(_) => {}
            Err(err) => problems.push(Problem {
                kind: "snapshot-unreadable",
                message: format!("actor {actor_id:?}: the latest snapshot cannot be read: {err}"),
                actor_id: actor_id.clone(),
                version: None,
                position: None,
            }),
        }
    }
    let report = Report {
        ok: problems.is_empty(),
        events,
        actors: checked.iter().filter(|(_, v)| *v > 0).count(),
        problems,
    };
    if json {
        output::json_line(&report)?;
    } else {
        for problem in &report.problems {
            println!("problem: {}", problem.message);
        }
        let verdict = if report.ok {
            "ok".to_owned()
        } else {
            format!("{} problems", report.problems.len())
        };
        println!(
            "{verdict}: {} events of {} actors checked",
            report.events, report.actors
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
