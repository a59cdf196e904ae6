//! Crash safety: a child process (this test binary, re-executed in child mode) appends
//! batches under load and prints each acknowledged append; the parent kills it with
//! SIGKILL mid-run, reconnects, and checks that every acknowledged batch is stored and
//! that no batch is partly stored.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{Event, EventStore};
use aether_nats::NatsStore;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Set (to the namespace) in the child process.
const CHILD_ENV: &str = "AETHER_NATS_CRASH_CHILD";
const WRITERS: usize = 8;
/// Acknowledged appends the parent waits for before killing the child.
const KILL_AFTER: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    if let Ok(namespace) = std::env::var(CHILD_ENV) {
        return child(namespace).await;
    }
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "acknowledged_appends_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, store.namespace())
        .env("NATS_URL", common::nats_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("re-executing the test binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // (writer, batch) -> (first, last) of every acknowledged append.
    let mut acked: BTreeMap<(usize, u64), (i64, i64)> = BTreeMap::new();
    let mut record = |line: &str| {
        let Some(rest) = line.strip_prefix("ACK ") else {
            return;
        };
        let fields: Vec<i64> = rest.split(' ').map(|f| f.parse().unwrap()).collect();
        acked.insert(
            (fields[0] as usize, fields[1] as u64),
            (fields[2], fields[3]),
        );
    };
    let mut seen = 0;
    while seen < KILL_AFTER {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the child acknowledges appends")
            .unwrap()
            .expect("the child exited before it was killed");
        if line.starts_with("ACK ") {
            seen += 1;
        }
        record(&line);
    }
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child died of SIGKILL: {status:?}"
    );
    // Lines the child printed before it died were acknowledged too.
    while let Some(line) = lines.next_line().await.unwrap() {
        record(&line);
    }

    let Some(reader) = common::store_in(store.namespace()).await else {
        return;
    };
    for writer in 0..WRITERS {
        let actor = format!("crash-{writer}");
        let events = reader.get_events(&actor, 0).await.unwrap();
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        assert_eq!(
            versions,
            (1..=events.len() as i64).collect::<Vec<_>>(),
            "{actor}: a gapless history"
        );
        // Group the stored events by batch: every batch is whole.
        let mut batches: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
        for event in &events {
            batches
                .entry(event.data["batch"].as_u64().unwrap())
                .or_default()
                .push(event);
        }
        for (batch, stored) in &batches {
            let size = stored[0].data["size"].as_u64().unwrap() as usize;
            assert_eq!(stored.len(), size, "{actor} batch {batch} is stored whole");
        }
        for (&(w, batch), &(first, last)) in acked.range((writer, 0)..(writer + 1, 0)) {
            assert_eq!(w, writer);
            let stored = batches
                .get(&batch)
                .unwrap_or_else(|| panic!("{actor}: acknowledged batch {batch} is lost"));
            assert_eq!(
                (stored[0].version, stored[stored.len() - 1].version),
                (first, last),
                "{actor} batch {batch} versions"
            );
        }
    }
    assert!(acked.len() >= KILL_AFTER);
    reader.delete_namespace().await.unwrap();
}

/// Child mode: eight writers append batches of 1 to 4 events as fast as they can, each
/// printing `ACK <writer> <batch> <first> <last>` (flushed) once the store acknowledged.
/// Bounded: stops by itself after 60 s.
async fn child(namespace: String) {
    let store = Arc::new(
        NatsStore::builder(common::nats_url())
            .namespace(namespace)
            .connect()
            .await
            .expect("the child connects"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let actor = format!("crash-{writer}");
                let mut version = 0i64;
                let mut batch = 0u64;
                while Instant::now() < deadline {
                    let size = 1 + (batch % 4) as i64;
                    let events: Vec<Event> = (1..=size)
                        .map(|i| Event {
                            id: format!("{actor}-{}", version + i),
                            event_type: "Appended".into(),
                            actor_id: actor.clone(),
                            command_id: Some(format!("batch-{batch}")),
                            version: version + i,
                            data: json!({ "batch": batch, "size": size, "index": i }),
                            timestamp: chrono::Utc::now(),
                        })
                        .collect();
                    store.save_events(&events).await.expect("child append");
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ACK {writer} {batch} {} {}",
                        version + 1,
                        version + size
                    )
                    .unwrap();
                    out.flush().unwrap();
                    version += size;
                    batch += 1;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}
