//! A writer process killed with SIGKILL under load loses no acknowledged append and leaves
//! no batch partly written.
//!
//! The test re-runs its own binary as the child (selected by an environment variable):
//! the child appends multi-event batches for many actors from many tasks and prints a line
//! per acknowledged batch, flushed. The parent kills it after some acknowledgements (it
//! waits on the child's output, not on a clock), reads what the child printed before dying,
//! reconnects, and checks the store.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use aether_core::{Event, EventStore};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const CHILD_ENV: &str = "AETHER_POSTGRES_CRASH_CHILD";
const TEST_NAME: &str = "killed_writer_loses_no_acknowledged_append_and_leaves_no_partial_batch";
const TASKS: usize = 32;
const ACTORS_PER_TASK: usize = 8;

/// One acknowledged batch, as the child printed it.
#[derive(Debug)]
struct Ack {
    actor: String,
    first: i64,
    last: i64,
    batch: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let ack = Ack {
        actor: parts.next()?.to_owned(),
        first: parts.next()?.parse().ok()?,
        last: parts.next()?.parse().ok()?,
        batch: parts.next()?.to_owned(),
    };
    Some(ack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writer_loses_no_acknowledged_append_and_leaves_no_partial_batch() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(spec).await;
    }
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let admin = common::raw_client().await;
    for round in 0..3 {
        let child_app = common::unique_name("aether_crash");
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{} r{round} {child_app}", test.schema))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the child writer");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = 200 + 150 * round;
        let mut acks = Vec::new();
        while acks.len() < kill_after {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("the child acknowledges appends")
                .expect("reading the child's output")
                .expect("the child exited before being killed");
            assert!(!line.starts_with("FAILED"), "the child failed: {line}");
            acks.extend(parse_ack(&line));
        }
        child.start_kill().expect("SIGKILL");
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "the child was killed: {status:?}");
        // Lines the child wrote before it died are acknowledgements too.
        while let Some(line) = lines.next_line().await.unwrap() {
            assert!(!line.starts_with("FAILED"), "the child failed: {line}");
            acks.extend(parse_ack(&line));
        }
        // The server finishes (and may commit) statements the child sent before it died:
        // wait until its sessions are gone, so the check sees the final state.
        wait_for_sessions_to_end(&admin, &child_app).await;
        verify(&test.store, &format!("r{round}"), &acks).await;
        eprintln!(
            "round {round}: killed after {} acknowledged batches",
            acks.len()
        );
    }
}

async fn wait_for_sessions_to_end(admin: &tokio_postgres::Client, app: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sessions: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if sessions == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the killed child's sessions did not end"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn verify(store: &aether_postgres::PostgresStore, round: &str, acks: &[Ack]) {
    let mut histories: HashMap<String, Vec<Event>> = HashMap::new();
    for task in 0..TASKS {
        for a in 0..ACTORS_PER_TASK {
            let actor = format!("{round}-t{task}-a{a}");
            let events = store.get_events(&actor, 0).await.unwrap();
            let latest = store.get_latest_version(&actor).await.unwrap();
            assert_eq!(
                latest,
                events.last().map_or(0, |e| e.version),
                "{actor}: the version guard agrees with the history"
            );
            histories.insert(actor, events);
        }
    }
    for ack in acks {
        let events = &histories[&ack.actor];
        let stored: Vec<&Event> = events
            .iter()
            .filter(|e| e.data["batch"] == json!(ack.batch))
            .collect();
        assert_eq!(
            stored.iter().map(|e| e.version).collect::<Vec<_>>(),
            (ack.first..=ack.last).collect::<Vec<_>>(),
            "acknowledged batch {} of {} is stored whole",
            ack.batch,
            ack.actor
        );
    }
    // Every stored batch, acknowledged or not, is whole.
    for (actor, events) in &histories {
        let mut batches: HashMap<&str, (u64, u64)> = HashMap::new();
        for e in events {
            let entry = batches
                .entry(e.data["batch"].as_str().unwrap())
                .or_insert((0, e.data["size"].as_u64().unwrap()));
            entry.0 += 1;
        }
        for (batch, (found, size)) in batches {
            assert_eq!(found, size, "{actor}: batch {batch} is whole");
        }
    }
}

/// The child: appends forever (until killed) and prints each acknowledged batch.
async fn child(spec: String) {
    let mut parts = spec.split(' ');
    let (schema, round, app) = (
        parts.next().expect("schema"),
        parts.next().expect("round"),
        parts.next().expect("application name"),
    );
    let store = common::another_store(schema, app).await;
    // A failing task must fail the test, not vanish among the others still appending: a
    // panic anywhere says so on stdout at once (before any later acknowledgement), where
    // the parent fails on it, and ends the process.
    std::panic::set_hook(Box::new(|info| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "FAILED {}", info.to_string().replace('\n', " "));
        let _ = out.flush();
        std::process::exit(2);
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        let round = round.to_owned();
        tasks.spawn(async move {
            let mut versions = [0_i64; ACTORS_PER_TASK];
            for n in 0_usize.. {
                let a = n % ACTORS_PER_TASK;
                let actor = format!("{round}-t{task}-a{a}");
                let size = 1 + (n * 7 + task) % 5;
                let batch_id = format!("{round}.{task}.{n}");
                let batch: Vec<Event> = (0..size)
                    .map(|i| {
                        common::event(
                            &actor,
                            versions[a] + 1 + i as i64,
                            json!({ "batch": batch_id, "size": size, "i": i }),
                        )
                    })
                    .collect();
                match store.save_events(&batch).await {
                    Ok(()) => {
                        versions[a] += size as i64;
                        let mut out = std::io::stdout().lock();
                        writeln!(
                            out,
                            "ACK {actor} {} {} {batch_id}",
                            batch[0].version, versions[a]
                        )
                        .unwrap();
                        out.flush().unwrap();
                    }
                    Err(err) => panic!("child append failed: {err}"),
                }
            }
        });
    }
    // The tasks append until the parent kills the process, so the first one to end has
    // failed: say so (the parent fails the test on it) and exit at once, instead of
    // leaving the others to run on as if nothing happened. Bounded in case the parent
    // died.
    let first_end = tokio::time::timeout(Duration::from_secs(120), tasks.join_next()).await;
    if let Ok(Some(ended)) = first_end {
        let why = match ended {
            Err(err) if err.is_panic() => format!("panicked: {}", panic_text(err.into_panic())),
            Err(err) => err.to_string(),
            Ok(()) => "returned".to_owned(),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "FAILED a child task {why}").unwrap();
        out.flush().unwrap();
        std::process::exit(2);
    }
    std::process::exit(3);
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a non-string panic".to_owned())
}
