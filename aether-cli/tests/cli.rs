//! The `aether` binary run as a user would: on SQLite always, on PostgreSQL and NATS when
//! their servers are up (a fresh schema / namespace each, dropped afterwards; under
//! `CI=true` an unreachable server fails the test, otherwise it is skipped with a reason).
#![cfg(feature = "sqlite")]

#[path = "../../tests/servers/mod.rs"]
mod servers;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `aether --store url args...` with `stdin`, returning its output.
fn aether(url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aether"))
        .arg("--store")
        .arg(url)
        .args(args)
        .env_remove("AETHER_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the aether binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A failure is one line on stderr, exit code 1, no panic.
fn assert_one_line_error(output: &Output, contains: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("aether: error: "), "{err}");
    assert!(
        err.contains(contains),
        "{err:?} should contain {contains:?}"
    );
}

/// `n` events for each of a few actors, as JSON lines in the seed's format.
fn sample(actors: &[&str], n: i64) -> String {
    let mut lines = String::new();
    for version in 1..=n {
        for (i, actor) in actors.iter().enumerate() {
            lines.push_str(&format!(
                r#"{{"id":"{actor}/{version}","eventType":"Deposited","actorId":"{actor}","version":{version},"data":{{"amount":{},"memo":"é \"q\"","nested":{{"b":[1,2.5,null],"a":true}}}},"timestamp":"2025-03-0{}T10:00:00.{:09}Z"{}}}"#,
                version * 10 + i as i64,
                1 + (i % 9),
                version * 1_000 + 7,
                if version % 2 == 0 { r#","commandId":"cmd-1""# } else { "" }
            ));
            lines.push('\n');
        }
    }
    lines
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn import_then_inspect_a_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("bank.db"));
    let input = sample(&["Account|ada", "Account|bob", "Order|7"], 4);

    let imported = aether(&url, &["import"], &input);
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert!(stderr(&imported).contains("imported 12 of 12 events"));

    let actors = aether(&url, &["actors"], "");
    assert!(actors.status.success());
    let text = stdout(&actors);
    assert!(text.starts_with("ACTOR"), "{text}");
    assert!(text.contains("Account|ada  4        4"), "{text}");
    let json = aether(
        &url,
        &["--json", "actors", "--type", "Account", "--limit", "1"],
        "",
    );
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["actorId"], "Account|ada");
    assert_eq!(lines[0]["version"], 4);
    assert_eq!(lines[0]["events"], 4);
    assert_eq!(lines[0]["snapshotVersion"], serde_json::Value::Null);

    let events = aether(
        &url,
        &["events", "Account|bob", "--from", "2", "--to", "3"],
        "",
    );
    let text = stdout(&events);
    assert!(text.contains("v2  Deposited"), "{text}");
    assert!(text.contains("v3  Deposited"), "{text}");
    assert!(!text.contains("v1 ") && !text.contains("v4 "), "{text}");
    assert!(text.contains("\"amount\": 21"), "pretty data: {text}");

    let verify = aether(&url, &["verify"], "");
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("ok: 12 events of 3 actors"));

    let stats = aether(&url, &["--json", "stats"], "");
    let stats: serde_json::Value = serde_json::from_str(stdout(&stats).trim()).unwrap();
    assert_eq!(stats["events"], 12);
    assert_eq!(stats["actors"], 3);
    assert!(stats["bytesOnDisk"].as_u64().unwrap() > 0);

    // Export gives back exactly the events imported (the seed's JSON, byte for byte).
    let exported = aether(&url, &["export"], "");
    assert!(exported.status.success());
    let canonical: Vec<String> = sorted_lines(&input)
        .iter()
        .map(|l| serde_json::to_string(&serde_json::from_str::<aether::Event>(l).unwrap()).unwrap())
        .collect();
    let mut canonical_sorted = canonical.clone();
    canonical_sorted.sort();
    assert_eq!(sorted_lines(&stdout(&exported)), canonical_sorted);
    let orders = aether(&url, &["export", "--type", "Order"], "");
    assert_eq!(stdout(&orders).lines().count(), 4);
}

#[test]
fn import_refuses_conflicts_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("c.db"));
    let input = sample(&["Account|ada", "Account|bob"], 3);
    assert!(aether(&url, &["import"], &input).status.success());

    // Again: every actor conflicts; each is reported, exit 1.
    let again = aether(&url, &["import"], &input);
    assert_eq!(again.status.code(), Some(1));
    let err = stderr(&again);
    assert!(
        err.contains("\"Account|ada\"") && err.contains("\"Account|bob\""),
        "{err}"
    );
    assert!(err.contains("conflicts with the stored history"), "{err}");
    assert!(err.contains("imported 0 of 6 events"), "{err}");

    // A malformed line names its number, and nothing of the file is saved.
    let mut bad = sample(&["Account|cy"], 2);
    bad.push_str("{\"id\": \"x\", not json\n");
    let out = aether(&url, &["import"], &bad);
    assert_one_line_error(&out, "line 3 is not an aether event");
    let out = aether(&url, &["events", "Account|cy"], "");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let not_aether = dir.path().join("notes.db");
    std::fs::write(
        &not_aether,
        "this is a text file, not an SQLite database at all......",
    )
    .unwrap();
    assert_one_line_error(
        &aether(&sqlite_url(&not_aether), &["actors"], ""),
        "notes.db",
    );

    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada');")
        .unwrap();
    drop(conn);
    assert_one_line_error(
        &aether(&sqlite_url(&other), &["stats"], ""),
        "not an aether store",
    );

    let missing = dir.path().join("missing.db");
    assert_one_line_error(
        &aether(&sqlite_url(&missing), &["actors"], ""),
        "does not exist",
    );
    assert!(!missing.exists(), "a read-only command creates no file");

    assert_one_line_error(
        &aether("mysql://root@h/db", &["actors"], ""),
        "unknown store url scheme",
    );
    // Nothing listens on port 1; the password never shows.
    let out = aether("postgres://app:hunter2@127.0.0.1:1/db", &["actors"], "");
    assert_one_line_error(&out, "postgres://app:***@127.0.0.1:1/db");
    assert!(!stderr(&out).contains("hunter2"));
    let out = aether("nats://app:hunter2@127.0.0.1:1", &["stats"], "");
    assert_one_line_error(&out, "nats");
    assert!(!stderr(&out).contains("hunter2"));

    // No store at all.
    let out = Command::new(env!("CARGO_BIN_EXE_aether"))
        .arg("actors")
        .env_remove("AETHER_STORE")
        .output()
        .unwrap();
    assert_one_line_error(&out, "AETHER_STORE");
}

#[test]
fn verify_names_each_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let url = sqlite_url(&path);
    // seq 1..=8: ada v1, bob v1, cy v1, ada v2, bob v2, cy v2, ...
    assert!(
        aether(&url, &["import"], &sample(&["A|ada", "A|bob", "A|cy"], 3))
            .status
            .success()
    );
    // Line order above imports actor by actor; look the rows up by actor and version.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let seq = |actor: &str, version: i64| -> i64 {
        conn.query_row(
            "SELECT e.seq FROM events e JOIN actors a USING (actor_key) \
             WHERE a.actor_id = ?1 AND e.version = ?2",
            rusqlite::params![actor, version],
            |row| row.get(0),
        )
        .unwrap()
    };
    let bad_row = seq("A|ada", 2);
    conn.execute(
        "UPDATE events SET data = '{\"x\": ' WHERE seq = ?1",
        [bad_row],
    )
    .unwrap();
    conn.execute(
        "UPDATE events SET id = 'A|ada/1' WHERE seq = ?1",
        [seq("A|bob", 1)],
    )
    .unwrap();
    conn.execute(
        "UPDATE events SET version = 1 WHERE seq = ?1",
        [seq("A|cy", 2)],
    )
    .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO snapshots (actor_key, version, state, ts_secs, ts_nanos) \
         SELECT actor_key, 9, '{}', 0, 0 FROM actors WHERE actor_id = 'A|bob'",
        [],
    )
    .unwrap();
    drop(conn);

    let out = aether(&url, &["verify"], "");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("feed position {bad_row}:0")) && text.contains("does not decode"),
        "{text}"
    );
    assert!(
        text.contains("event id \"A|ada/1\" is used twice"),
        "{text}"
    );
    assert!(
        text.contains("actor \"A|cy\": version 1") && text.contains("ascend strictly"),
        "{text}"
    );
    assert!(
        text.contains("actor \"A|bob\": the latest snapshot is at version 9"),
        "{text}"
    );
    // Reading went on past the bad row: ada's version 3 was checked.
    assert!(text.contains("4 problems: 8 events of 3 actors"), "{text}");

    let json = aether(&url, &["--json", "verify", "A|bob"], "");
    let report: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(report["ok"], false);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["snapshot-ahead"]);
}

/// Spawns `aether tail` and hands its stdout lines to a channel.
fn spawn_tail(url: &str, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aether"))
        .arg("--store")
        .arg(url)
        .arg("tail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn next_line(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("tail printed a line within 20 s")
}

#[test]
fn tail_follows_new_events_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("t.db"));
    assert!(aether(&url, &["import"], &sample(&["A|old"], 1))
        .status
        .success());

    let (mut child, rx) = spawn_tail(
        &url,
        &["--from-start", "--json", "--event-type", "Deposited"],
    );
    let first: serde_json::Value = serde_json::from_str(&next_line(&rx)).unwrap();
    assert_eq!(first["actorId"], "A|old");
    // Written by another process while tail waits.
    assert!(aether(&url, &["import"], &sample(&["A|new"], 2))
        .status
        .success());
    let second: serde_json::Value = serde_json::from_str(&next_line(&rx)).unwrap();
    let third: serde_json::Value = serde_json::from_str(&next_line(&rx)).unwrap();
    assert_eq!(
        (&second["actorId"], &second["version"]),
        (&"A|new".into(), &1.into())
    );
    assert_eq!(third["version"], 2);

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends tail cleanly: {status:?}");
}

/// The events of `url`, exported in feed order.
fn export(url: &str) -> String {
    let out = aether(url, &["export"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[cfg(all(feature = "postgres", feature = "nats"))]
#[test]
fn sqlite_to_postgres_to_nats_keeps_every_event_byte_equal() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(&dir.path().join("r.db"));
    let input = sample(&["Account|ada", "Account|bob", "Order|7", "Order|8"], 30);
    assert!(aether(&sqlite, &["import"], &input).status.success());
    let from_sqlite = export(&sqlite);
    assert_eq!(from_sqlite.lines().count(), 120);

    let schema = servers::unique_name("aether_cli");
    let _schema_guard = servers::SchemaGuard(schema.clone());
    let postgres = format!("{}?schema={schema}", servers::pg_url());
    let out = aether(&postgres, &["import"], &from_sqlite);
    if !out.status.success() && stderr(&out).contains("cannot connect") {
        return servers::unreachable("PostgreSQL", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let from_postgres = export(&postgres);
    assert_eq!(sorted_lines(&from_postgres), sorted_lines(&from_sqlite));

    let namespace = servers::nats_namespace("cli");
    let _namespace_guard = servers::NamespaceGuard(namespace.clone());
    let nats = format!("{}?namespace={namespace}", servers::nats_url());
    let out = aether(&nats, &["import"], &from_postgres);
    if !out.status.success() && stderr(&out).contains("NATS at") {
        return servers::unreachable("NATS", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sorted_lines(&export(&nats)), sorted_lines(&from_sqlite));

    // The other commands work there too.
    for url in [&postgres, &nats] {
        let verify = aether(url, &["verify"], "");
        assert!(
            stdout(&verify).contains("ok: 120 events of 4 actors"),
            "{}",
            stdout(&verify)
        );
        let stats = aether(url, &["--json", "stats"], "");
        let stats: serde_json::Value = serde_json::from_str(stdout(&stats).trim()).unwrap();
        assert_eq!(
            (stats["events"].as_u64(), stats["actors"].as_u64()),
            (Some(120), Some(4))
        );
        // The server tells the size: the schema's tables, the stream and buckets.
        assert!(
            stats["bytesOnDisk"].as_u64().is_some_and(|b| b > 0),
            "{url}: {stats}"
        );
    }
}
