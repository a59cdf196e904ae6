//! Crash safety: a child process appends under load and is killed with SIGKILL; every
//! append it acknowledged must be in the file, and no batch may be partly there.
//!
//! The test re-executes its own binary: with `AETHER_SQLITE_CRASH_CHILD=<path>` set, the
//! same `#[test]` runs the child's side instead (appending and printing one `ACK` line
//! per acknowledged append).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use aether_core::{Event, EventStore};
use aether_sqlite::SqliteStore;
use serde_json::json;

const CHILD_ENV: &str = "AETHER_SQLITE_CRASH_CHILD";
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill";
const ACTORS: usize = 64;
const KILLS: usize = 5;

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        run_child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let mut acknowledged: Vec<(String, i64, i64)> = Vec::new();
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill at a different point each round.
        let target = 200 + round * 350;
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.expect("read the child's output");
            let Some(rest) = line.strip_prefix("ACK ") else {
                continue;
            };
            let mut parts = rest.split(' ');
            let actor = parts.next().unwrap().to_owned();
            let first: i64 = parts.next().unwrap().parse().unwrap();
            let len: i64 = parts.next().unwrap().parse().unwrap();
            acknowledged.push((actor, first, len));
            seen += 1;
            if seen >= target {
                break;
            }
        }
        assert_eq!(
            seen, target,
            "the child stopped before {target} acknowledgements"
        );
        child.kill().expect("SIGKILL the child");
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the child was killed, not finished: {status:?}"
        );
        check(&path, &acknowledged);
    }
}

/// Every acknowledged batch is present; every stored batch is whole; histories are
/// gapless from 1 (the child always appends right after the latest version).
fn check(path: &std::path::Path, acknowledged: &[(String, i64, i64)]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(path)
            .await
            .expect("reopen after the kill");
        let mut histories: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for a in 0..ACTORS {
            let actor = format!("crash-{a}");
            let events = store.get_events(&actor, 0).await.unwrap();
            histories.insert(actor, events);
        }
        for (actor, first, len) in acknowledged {
            let history = &histories[actor];
            for v in *first..first + len {
                let found = history.iter().find(|e| e.version == v);
                let found = found.unwrap_or_else(|| {
                    panic!("acknowledged event {actor} v{v} (batch {first}+{len}) is missing")
                });
                assert_eq!(found.data["batch_first"], json!(first));
                assert_eq!(found.data["batch_len"], json!(len));
            }
        }
        for (actor, history) in &histories {
            let mut expected = 1;
            let mut i = 0;
            while i < history.len() {
                let first = history[i].data["batch_first"].as_i64().unwrap();
                let len = history[i].data["batch_len"].as_i64().unwrap() as usize;
                assert_eq!(
                    first, expected,
                    "{actor}: history has a gap before v{first}"
                );
                assert!(
                    i + len <= history.len(),
                    "{actor}: batch v{first}+{len} is partly stored"
                );
                for (k, e) in history[i..i + len].iter().enumerate() {
                    assert_eq!(e.version, first + k as i64, "{actor}: batch v{first}");
                    assert_eq!(
                        e.data["batch_first"],
                        json!(first),
                        "{actor}: batch v{first}"
                    );
                }
                expected = first + len as i64;
                i += len;
            }
        }
        let stored: usize = histories.values().map(Vec::len).sum();
        eprintln!(
            "after the kill: {} acknowledged appends, {stored} events stored",
            acknowledged.len()
        );
        store.close().await.unwrap();
    });
}

/// The child: `ACTORS` tasks append batches of 1 to 5 events as fast as they are
/// acknowledged, printing `ACK <actor> <first> <len>` after each acknowledgement.
fn run_child(path: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(SqliteStore::open(path).await.expect("child opens the store"));
        let tasks: Vec<_> = (0..ACTORS)
            .map(|a| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let actor = format!("crash-{a}");
                    let mut next = store.get_latest_version(&actor).await.unwrap() + 1;
                    loop {
                        let len = 1 + (next + a as i64) % 5;
                        let batch: Vec<Event> = (next..next + len)
                            .map(|v| Event {
                                id: format!("{actor}-{v}"),
                                event_type: "Crashed".into(),
                                actor_id: actor.clone(),
                                command_id: None,
                                version: v,
                                data: json!({ "batch_first": next, "batch_len": len, "pad": "x".repeat(100) }),
                                timestamp: chrono::Utc::now(),
                            })
                            .collect();
                        store.save_events(&batch).await.expect("child append");
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {actor} {next} {len}").unwrap();
                        out.flush().unwrap();
                        next += len;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}
