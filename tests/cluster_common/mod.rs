//! Shared pieces of the cluster's process tests (`tests/cluster_*.rs`):
//!
//! - [`Tally`], an actor whose every `Add` carries its command id into its event, so the
//!   stored history says which command ids were applied, and how often;
//! - [`Child`], a member process (this test binary re-run in a child mode) whose stdout
//!   lines arrive through a channel, and which can be SIGKILLed;
//! - the NATS reachability rule (fail under `CI=true`, else skip with a reason), a fresh
//!   namespace per test, and [`verify`], the check every test ends with.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether::nats::{ConnectError, NatsStore};
use aether::{Decision, DomainEvent, EventDecodeError, EventSourced, EventStore, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
// NATS

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A namespace no other run uses.
pub fn fresh_namespace(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-{}-{label}-{}",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    )
}

/// A store on `namespace`; `None` (after printing why) when NATS is unreachable and
/// `CI` is not `true`.
///
/// # Panics
///
/// When NATS is unreachable and `CI=true`.
pub async fn store(namespace: &str) -> Option<NatsStore> {
    match NatsStore::builder(nats_url())
        .namespace(namespace)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(store) => Some(store),
        Err(err @ (ConnectError::Unreachable { .. } | ConnectError::Timeout { .. })) => {
            assert!(
                !under_ci(),
                "CI=true and NATS is not reachable at {}: {err}",
                nats_url()
            );
            eprintln!("skipping: NATS is not reachable at {}: {err}", nats_url());
            None
        }
        Err(err) => panic!("NATS is reachable but the store cannot be set up: {err}"),
    }
}

/// Deletes the namespace's stream and buckets, and the cluster's buckets.
pub async fn cleanup(store: &NatsStore) {
    aether::cluster::delete_buckets(store).await;
    let _ = store.delete_namespace().await;
}

/// A multi-thread tokio runtime with two workers (the machine's cores).
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Child processes

/// A member process: this test binary re-run with `--exact <test>` and an environment
/// variable selecting the child's side.
pub struct Child {
    pub name: String,
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    stdin: Option<std::process::ChildStdin>,
}

impl Child {
    pub fn spawn(test: &str, name: &str, env: &[(&str, String)]) -> Child {
        let mut command = Command::new(std::env::current_exe().expect("current_exe"));
        command
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut process = command.spawn().expect("spawn the child");
        let stdout = BufReader::new(process.stdout.take().expect("piped stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = process.stdin.take();
        Child {
            name: name.to_owned(),
            process,
            lines,
            stdin,
        }
    }

    /// Writes a line to the child's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush to the child");
    }

    /// The lines the child has written so far.
    pub fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Reads lines until `wanted`, handing every line (the wanted one too) to `seen`;
    /// panics if the child ends first or after `timeout`.
    pub fn wait_for(&self, wanted: &str, timeout: Duration, mut seen: impl FnMut(&str)) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    seen(&line);
                    if line == wanted {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{} ended before printing {wanted:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{} did not print {wanted:?} within {timeout:?}", self.name)
                }
            }
        }
    }

    /// SIGKILL, then waits for the exit; returns the lines written before it died.
    pub fn kill(mut self) -> Vec<String> {
        self.process.kill().expect("SIGKILL the child");
        let status = self.process.wait().expect("wait for the child");
        assert!(!status.success(), "the child was killed: {status:?}");
        self.lines.iter().collect()
    }

    /// Waits for the child to exit by itself (at most `timeout`); returns the rest of its
    /// output and asserts it succeeded.
    pub fn finish(mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.process.kill();
                    panic!("{} did not finish within {timeout:?}", self.name);
                }
            }
        }
        let status = self.process.wait().expect("wait for the child");
        assert!(status.success(), "{} failed: {status:?}", self.name);
        rest
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// SplitMix64: a small seeded generator (tests print their seed; `AETHER_SEED` replays).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// `AETHER_SEED`, or one from the clock.
pub fn seed() -> u64 {
    std::env::var("AETHER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
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
