//! Projections survive `kill -9`: a child process runs a projection over a SQLite store
//! and prints its progress; the parent SIGKILLs it at seeded random moments, decided by
//! how many progress lines it has read (never by a clock), 20 times per mode: 10 times
//! while it catches up with a backlog, 10 times while it follows events that a writer in
//! the child keeps appending. After each kill the parent checks the read model against
//! a fold of the feed up to the projection's checkpoint:
//!
//! - **exactly once** (`SqliteStore::exactly_once`, the read model in the same file):
//!   the model holds every event up to the checkpoint exactly once, and nothing else;
//! - **exactly once, decoded** (the same, the projection handling `Decoded<Noted>` items
//!   decoded from the lent rows, its sink at `synchronous = NORMAL`): the same promise;
//! - **at least once** (`AtLeastOnce`, the read model a log file outside the database):
//!   the model holds every event up to the checkpoint (none missing), and only events of
//!   the feed.
//!
//! A last child then runs to the head of the feed and exits; the model must then hold
//! the whole feed (exactly once: each event once).
//!
//! `AETHER_SEED=<n>` replays a run's kill points.
//!
//! ```text
//! cargo test --all-features --test projection_crash -- --nocapture
//! ```
#![cfg(all(feature = "sqlite", feature = "testkit"))]

mod process_common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aether::feed::{
    AtLeastOnce, CheckpointStore, Decoded, EventFeed, EventRef, FeedDecode, FeedEvent, FeedFilter,
    HandlerError, Position, Projection,
};
use aether::projection::{self, ProjectionOptions, ProjectionPhase};
use aether::sqlite::rusqlite::{params, Transaction};
use aether::sqlite::{SqliteProjection, SqliteStore, Synchronous};
use aether::{Event, EventStore};
use process_common::{say, Child, Rng};

const CHILD_ENV: &str = "AETHER_PROJECTION_CRASH_CHILD";
const NAME: &str = "crash-model";
/// Events stored before the first child starts: the backlog of the catch-up rounds.
const BACKLOG: i64 = 4_000;
const BATCH: usize = 20;
const ROUNDS_PER_PHASE: usize = 10;

fn event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("{actor}/{version}"),
        event_type: "Noted".into(),
        actor_id: actor.into(),
        command_id: None,
        version,
        data: serde_json::json!({ "v": version }),
        timestamp: chrono::Utc::now(),
    }
}

/// The exactly-once read model: a row per event handled, no constraint (a duplicate
/// must be countable, not refused).
struct Rows;

impl SqliteProjection for Rows {
    fn handle(&mut self, tx: &Transaction<'_>, e: &FeedEvent) -> Result<(), HandlerError> {
        tx.execute(
            "INSERT INTO model (position, event_id) VALUES (?1, ?2)",
            params![e.position.to_string(), e.event.id],
        )?;
        Ok(())
    }
}

/// What the decoded projection takes of an event: its id, and the version in its payload
/// (which must agree with the event's).
#[derive(Clone)]
struct Noted {
    id: String,
}

impl FeedDecode for Noted {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        #[derive(serde::Deserialize)]
        struct Data {
            v: i64,
        }
        let data: Data = event.data.decode()?;
        if data.v != event.version {
            return Err(format!(
                "{}: payload v {} at version {}",
                event.id, data.v, event.version
            )
            .into());
        }
        Ok(Noted {
            id: event.id.to_owned(),
        })
    }
}

impl SqliteProjection<Decoded<Noted>> for Rows {
    fn handle(&mut self, tx: &Transaction<'_>, e: &Decoded<Noted>) -> Result<(), HandlerError> {
        tx.execute(
            "INSERT INTO model (position, event_id) VALUES (?1, ?2)",
            params![e.position.to_string(), e.event.id],
        )?;
        Ok(())
    }
}

/// The at-least-once read model: a log file of event ids, appended to (a write reaches
/// the OS before the checkpoint is saved, so a `kill -9` loses none).
struct Log(std::fs::File);

#[aether::async_trait]
impl Projection for Log {
    async fn handle(&mut self, e: &FeedEvent) -> Result<(), HandlerError> {
        self.0
            .write_all(format!("{} {}\n", e.position, e.event.id).as_bytes())?;
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    ExactlyOnce,
    ExactlyOnceDecoded,
    AtLeastOnce,
}

impl Mode {
    /// Whether the read model is the table of an exactly-once sink.
    fn exactly_once(self) -> bool {
        matches!(self, Mode::ExactlyOnce | Mode::ExactlyOnceDecoded)
    }

    fn tag(self) -> &'static str {
        match self {
            Mode::ExactlyOnce => "exactly",
            Mode::ExactlyOnceDecoded => "decoded",
            Mode::AtLeastOnce => "atleast",
        }
    }
}

/// The child: `<mode>|<db path>|<log path>|<phase>` where phase is `catchup`, `live`
/// (with a writer) or `finish` (run to the head, exit).
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let mode = match parts[0] {
        "exactly" => Mode::ExactlyOnce,
        "decoded" => Mode::ExactlyOnceDecoded,
        _ => Mode::AtLeastOnce,
    };
    let (db, log, phase) = (PathBuf::from(parts[1]), PathBuf::from(parts[2]), parts[3]);
    process_common::child_tokio().block_on(async move {
        let store = Arc::new(SqliteStore::open(&db).await.expect("open the store"));
        let options = ProjectionOptions::new().batch_size(BATCH);
        if phase == "live" {
            // A writer keeps appending while the projection follows.
            let writer = store.clone();
            let actor = format!("Live|{}", std::process::id());
            tokio::spawn(async move {
                for v in 1.. {
                    writer.save_event(&event(&actor, v)).await.expect("append");
                    tokio::task::yield_now().await;
                }
            });
        }
        match mode {
            Mode::ExactlyOnce => {
                let sink = store.exactly_once(Rows);
                let handle =
                    projection::spawn::<_, _, FeedEvent>(NAME, store.clone(), sink, options);
                run(handle, phase).await
            }
            Mode::ExactlyOnceDecoded => {
                let sink = store.exactly_once(Rows).synchronous(Synchronous::Normal);
                let handle =
                    projection::spawn::<_, _, Decoded<Noted>>(NAME, store.clone(), sink, options);
                run(handle, phase).await
            }
            Mode::AtLeastOnce => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("open the log");
                let sink = AtLeastOnce::new(Log(file), store.clone());
                run(projection::spawn(NAME, store.clone(), sink, options), phase).await
            }
        }
    });
}

async fn run<S>(handle: projection::ProjectionHandle<S>, phase: &str) {
    if phase == "finish" {
        handle.wait_for_head().await.expect("the projection");
        say("projection done");
        handle.stop().await;
        return;
    }
    let mut status = handle.watch();
    let mut last = 0;
    loop {
        let now = status.borrow_and_update().clone();
        if let ProjectionPhase::Failed(err) = &now.phase {
            say(&format!("ERR {err}"));
            return;
        }
        if now.handled != last {
            last = now.handled;
            let live = matches!(now.phase, ProjectionPhase::Live);
            say(&format!(
                "progress {} {}",
                now.handled,
                if live { "live" } else { "catchup" }
            ));
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// The read model's events, by id, with how many times each was applied.
fn model(mode: Mode, db: &Path, log: &Path) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    match mode {
        Mode::ExactlyOnce | Mode::ExactlyOnceDecoded => {
            let conn = aether::sqlite::rusqlite::Connection::open(db).unwrap();
            let mut stmt = conn.prepare("SELECT event_id FROM model").unwrap();
            let ids = stmt.query_map([], |row| row.get::<_, String>(0)).unwrap();
            for id in ids {
                *seen.entry(id.unwrap()).or_default() += 1;
            }
        }
        Mode::AtLeastOnce => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            for line in text.lines() {
                let (_, id) = line.split_once(' ').expect("a whole log line");
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    seen
}

/// Checks the model against the feed up to the checkpoint; returns the number of events
/// up to the checkpoint.
async fn check(mode: Mode, db: &Path, log: &Path, round: &str) -> usize {
    let store = SqliteStore::open(db).await.unwrap();
    let checkpoint = store.load_checkpoint(NAME).await.unwrap();
    let all = store
        .read_feed(Position::START, &FeedFilter::all(), usize::MAX)
        .await
        .unwrap()
        .events;
    store.close().await.unwrap();
    let upto: Vec<&Event> = all
        .iter()
        .filter(|e| checkpoint.is_some_and(|c| e.position <= c))
        .map(|e| &e.event)
        .collect();
    let model = model(mode, db, log);
    let stored: HashMap<&str, ()> = all.iter().map(|e| (e.event.id.as_str(), ())).collect();
    for id in model.keys() {
        assert!(
            stored.contains_key(id.as_str()),
            "{round}: the model holds {id}, not in the feed"
        );
    }
    for e in &upto {
        let n = model.get(&e.id).copied().unwrap_or(0);
        assert!(
            n >= 1,
            "{round}: event {} is before the checkpoint but missing",
            e.id
        );
        if mode.exactly_once() {
            assert_eq!(n, 1, "{round}: event {} applied {n} times", e.id);
        }
    }
    if mode.exactly_once() {
        assert_eq!(
            model.values().sum::<usize>(),
            upto.len(),
            "{round}: the model holds events after its checkpoint"
        );
    }
    upto.len()
}

fn crash_rounds(mode: Mode, test: &str) {
    let seed = process_common::seed();
    let mut rng = Rng::new(seed);
    eprintln!("{test}: seed {seed} (AETHER_SEED={seed} replays the kill points)");
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("model.db"), dir.path().join("model.log"));
    let tokio = process_common::child_tokio();
    tokio.block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        for a in 0..40 {
            let actor = format!("Backlog|{a}");
            let events: Vec<Event> = (1..=BACKLOG / 40).map(|v| event(&actor, v)).collect();
            store.save_events(&events).await.unwrap();
        }
        store.close().await.unwrap();
    });
    let conn = aether::sqlite::rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE model (position TEXT NOT NULL, event_id TEXT NOT NULL)")
        .unwrap();
    drop(conn);
    let tag = mode.tag();
    let spec = |phase: &str| format!("{tag}|{}|{}|{phase}", db.display(), log.display());
    let mut previous = 0;
    for round in 0..2 * ROUNDS_PER_PHASE {
        let phase = if round < ROUNDS_PER_PHASE {
            "catchup"
        } else {
            "live"
        };
        let target = rng.range(1, 8) as usize;
        let child = Child::spawn(test, &[(CHILD_ENV, spec(phase))]);
        let mut lines = 0;
        let mut last_line = String::new();
        while lines < target {
            let line = child
                .next_line(Duration::from_secs(60))
                .expect("the child exited before it was killed");
            assert!(!line.starts_with("ERR"), "round {round}: {line}");
            if line.starts_with("progress") {
                // In the live rounds, count only progress made while following.
                if phase == "live" && !line.ends_with("live") {
                    continue;
                }
                lines += 1;
                last_line = line;
            }
        }
        child.kill();
        let upto = tokio.block_on(check(mode, &db, &log, &format!("round {round}")));
        eprintln!("{test} round {round} ({phase}): killed after {last_line:?}; {upto} events up to the checkpoint");
        if phase == "catchup" {
            assert!(
                (upto as i64) < BACKLOG,
                "round {round}: the backlog was used up; the catch-up rounds did not kill mid-catch-up"
            );
        }
        assert!(upto >= previous, "round {round}: the checkpoint went back");
        previous = upto;
    }
    let child = Child::spawn(test, &[(CHILD_ENV, spec("finish"))]);
    let rest = child.finish(Duration::from_secs(120));
    // The test harness prints "test <name> ... " before the child's own line.
    assert!(
        rest.iter().any(|l| l.ends_with("projection done")),
        "{rest:?}"
    );
    let upto = tokio.block_on(check(mode, &db, &log, "final"));
    let total = tokio.block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let head = store.feed_lag(Position::START).await.unwrap();
        store.close().await.unwrap();
        head as usize
    });
    assert_eq!(upto, total, "the last run reached the head of the feed");
    eprintln!("{test}: 20 kills, then {total} events in the feed, all in the model");
}

#[test]
fn exactly_once_projection_survives_repeated_sigkill() {
    const TEST: &str = "exactly_once_projection_survives_repeated_sigkill";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    crash_rounds(Mode::ExactlyOnce, TEST);
}

#[test]
fn decoded_exactly_once_projection_survives_repeated_sigkill() {
    const TEST: &str = "decoded_exactly_once_projection_survives_repeated_sigkill";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    crash_rounds(Mode::ExactlyOnceDecoded, TEST);
}

#[test]
fn at_least_once_projection_survives_repeated_sigkill() {
    const TEST: &str = "at_least_once_projection_survives_repeated_sigkill";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    crash_rounds(Mode::AtLeastOnce, TEST);
}
