//! Shared pieces of the cluster's process tests (`tests/cluster_*.rs`):
//!
//! - [`Tally`], an actor whose every `Add` carries its command id into its event, so the
//!   stored history says which command ids were applied, and how often;
//! - [`Reports`], what the parent reads from its member processes' lines, and [`verify`],
//!   the check every test ends with.
//!
//! The member processes, the seeded generator, the test runtime and the namespaces (with
//! the reachability rule, and a guard that deletes each) are `process_common`'s.
#![allow(dead_code, unreachable_pub)]

#[path = "../process_common/mod.rs"]
pub mod process_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aether::nats::NatsStore;
use aether::{Decision, DomainEvent, EventDecodeError, EventSourced, EventStore, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use process_common::{child_tokio, nats, seed, Child, Rng};

// ---------------------------------------------------------------------------------------
// The actor

/// Every `decide` of an `Add` in this process.
pub static DECIDES: AtomicU64 = AtomicU64::new(0);

/// The command ids decided in this process: a second decide of one is a re-decision
/// after a version conflict (another member wrote the actor meanwhile), printed at once
/// as `conflict <command id>` so that a kill loses no count.
static DECIDED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

/// A sum whose events name the command that made them.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub total: u64,
    pub events: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TallyCmd {
    /// Adds `n`; `cmd` is the command id, recorded in the event.
    Add {
        cmd: String,
        n: u64,
    },
    Get,
}

#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Debug, Clone)]
pub struct Added {
    pub cmd: String,
    pub n: u64,
}

impl DomainEvent for Added {
    fn event_type(&self) -> &str {
        "Added"
    }
    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({ "cmd": self.cmd, "n": self.n }))
    }
    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        match (data["cmd"].as_str(), data["n"].as_u64()) {
            (Some(cmd), Some(n)) => Ok(Added {
                cmd: cmd.to_owned(),
                n,
            }),
            _ => Err(EventDecodeError::invalid_data(
                event_type,
                "cmd or n missing",
            )),
        }
    }
}

impl EventSourced for Tally {
    const ACTOR_TYPE: &'static str = "Tally";
    type Command = TallyCmd;
    type Event = Added;
    type Reply = Tally;
    type Error = Never;

    fn decide(&self, command: &TallyCmd) -> Result<Decision<Added, Tally>, Never> {
        match command {
            TallyCmd::Add { cmd, n } => {
                DECIDES.fetch_add(1, Ordering::Relaxed);
                let first = DECIDED
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(cmd.clone());
                if !first {
                    println!("conflict {cmd}");
                }
                let mut after = self.clone();
                after.total += n;
                after.events += 1;
                Ok(Decision::new(
                    vec![Added {
                        cmd: cmd.clone(),
                        n: *n,
                    }],
                    after,
                ))
            }
            TallyCmd::Get => Ok(Decision::reply(self.clone())),
        }
    }

    fn apply(&mut self, event: &Added) {
        self.total += event.n;
        self.events += 1;
    }
}

/// The state a full replay of `events` gives.
pub fn replay(events: &[aether::Event]) -> Tally {
    let mut state = Tally::default();
    for event in events {
        state.apply(&Added::from_data(&event.event_type, &event.data).expect("an Added"));
    }
    state
}

// ---------------------------------------------------------------------------------------
// What the children report, and the final check

/// The reports a parent collects from its children's lines.
#[derive(Debug, Default)]
pub struct Reports {
    /// Acknowledged command ids, with their actor.
    pub acked: BTreeMap<String, String>,
    /// Failed asks that were retried (same command id), by error kind.
    pub retried: BTreeMap<String, u64>,
    /// Asks given up on (not acknowledged; applied at most once).
    pub given_up: u64,
    /// Errors that must not happen (a test with no kills expects none at all).
    pub errors: Vec<String>,
    /// The last `decides` count of each child incarnation.
    pub decides: BTreeMap<String, u64>,
    /// Re-decisions after a version conflict (two members wrote one actor).
    pub conflicts: u64,
}

impl Reports {
    /// Takes one line of a child named `who`.
    pub fn take(&mut self, who: &str, line: &str) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("ack") => {
                let (Some(cmd), Some(actor)) = (words.next(), words.next()) else {
                    return;
                };
                self.acked.insert(cmd.to_owned(), actor.to_owned());
            }
            Some("retry") => {
                *self
                    .retried
                    .entry(words.next().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
            Some("gaveup") => self.given_up += 1,
            Some("conflict") => self.conflicts += 1,
            Some("error") => self.errors.push(format!("{who}: {line}")),
            Some("decides") => {
                let n = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                self.decides.insert(who.to_owned(), n);
            }
            _ => {}
        }
    }
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct Verified {
    pub actors: usize,
    pub events: u64,
}

/// Every actor's history: versions 1..=n with no gap, no command id twice (in the
/// actor or across actors), every acknowledged command id stored exactly once, and the
/// state a fresh runtime serves equal to a replay of the events.
pub async fn verify(store: Arc<NatsStore>, actors: &[String], reports: &Reports) -> Verified {
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    let mut events_total = 0;
    let fresh = Runtime::new(store.clone());
    for id in actors {
        let stored_id = aether::stored_actor_id::<Tally>(id);
        let events = store.get_events(&stored_id, 1).await.expect("read events");
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        let expected: Vec<i64> = (1..=events.len() as i64).collect();
        assert_eq!(versions, expected, "{stored_id}: versions with a gap");
        for event in &events {
            let added = Added::from_data(&event.event_type, &event.data).expect("an Added");
            assert_eq!(
                event.command_id.as_deref(),
                Some(added.cmd.as_str()),
                "{stored_id} v{}: the event's command id",
                event.version
            );
            if let Some(before) = stored.insert(added.cmd.clone(), id.clone()) {
                panic!(
                    "command {} applied twice (actor {before} and {id}, v{})",
                    added.cmd, event.version
                );
            }
        }
        let served = fresh
            .actor::<Tally>(id)
            .ask(TallyCmd::Get)
            .await
            .expect("a fresh runtime serves the actor");
        assert_eq!(served, replay(&events), "{stored_id}: state != replay");
        events_total += events.len() as u64;
    }
    fresh.shutdown().await;
    let lost: Vec<&String> = reports
        .acked
        .keys()
        .filter(|cmd| !stored.contains_key(*cmd))
        .collect();
    assert!(lost.is_empty(), "acknowledged commands lost: {lost:?}");
    for (cmd, actor) in &reports.acked {
        assert_eq!(&stored[cmd], actor, "command {cmd} stored on another actor");
    }
    let unknown: BTreeSet<&String> = stored.keys().filter(|c| !c.contains('-')).collect();
    assert!(
        unknown.is_empty(),
        "events of unknown commands: {unknown:?}"
    );
    Verified {
        actors: actors.len(),
        events: events_total,
    }
}
