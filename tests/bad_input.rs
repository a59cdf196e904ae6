//! Bad input through the stores (in-memory, SQLite, PostgreSQL) and through the runtime:
//! each case gets a clear error naming the actor and version, or works correctly; never a
//! panic, and never a change to another actor's history. The table of cases is in
//! docs/bad-input.md.
//!
//! PostgreSQL: `AETHER_POSTGRES_URL` or postgres://postgres@127.0.0.1:5432/test, one
//! fresh schema per store, dropped when the test ends (also when it fails); the first
//! test of a run drops the `bad_input_*` schemas killed runs left behind (older than
//! two hours). Skipped with a message when unreachable, unless `CI=true`.
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod reliability_common;

use std::sync::Arc;

use aether::postgres::PostgresStore;
use aether::sqlite::SqliteStore;
use aether::{
    ActorSnapshot, AskError, Event, EventStore, InMemoryStore, Runtime, SnapshotStore, StoreError,
};
use proptest::prelude::*;
use reliability_common::ledger::{self, raw_event, Account, AccountCommand};
use reliability_common::{fresh_schema, pg_url};
use serde_json::{json, Value};

const NEIGHBOUR: &str = "Account|neighbour";

/// One store under test, with what keeps it alive.
struct Under {
    name: &'static str,
    store: Arc<dyn SnapshotStore>,
    neighbour: Vec<Event>,
    _dir: Option<tempfile::TempDir>,
    sqlite_path: Option<std::path::PathBuf>,
    pg: Option<(String, String)>,
    /// Drops the PostgreSQL schema when the test ends, passed or failed (last: after
    /// the store's connections are gone).
    _schema: Option<reliability_common::servers::SchemaGuard>,
}

impl Under {
    /// The neighbour's history is what it was.
    async fn neighbour_unchanged(&self) {
        let now = self.store.get_events(NEIGHBOUR, 0).await.unwrap();
        assert_eq!(
            now, self.neighbour,
            "{}: the neighbour's history is unchanged",
            self.name
        );
    }
}

/// Every store, each with a neighbour actor holding two events.
async fn stores() -> Vec<Under> {
    let neighbour = vec![
        raw_event(NEIGHBOUR, 1, "Deposited", json!({ "amount": 5 })),
        raw_event(NEIGHBOUR, 2, "Withdrawn", json!({ "amount": 2 })),
    ];
    let mut out = Vec::new();
    out.push(Under {
        name: "in-memory",
        store: Arc::new(InMemoryStore::new()),
        neighbour: neighbour.clone(),
        _dir: None,
        sqlite_path: None,
        pg: None,
        _schema: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    out.push(Under {
        name: "sqlite",
        store: Arc::new(SqliteStore::open(&path).await.unwrap()),
        neighbour: neighbour.clone(),
        _dir: Some(dir),
        sqlite_path: Some(path),
        pg: None,
        _schema: None,
    });
    if let Some(url) = pg_url() {
        sweep_once(&url).await;
        let schema = fresh_schema("bad_input");
        let guard = reliability_common::servers::SchemaGuard(schema.clone());
        let store = PostgresStore::builder(url.clone())
            .schema(schema.clone())
            .max_connections(2)
            .connect()
            .await
            .expect("connect to PostgreSQL");
        out.push(Under {
            name: "postgres",
            store: Arc::new(store),
            neighbour: neighbour.clone(),
            _dir: None,
            sqlite_path: None,
            pg: Some((url, schema)),
            _schema: Some(guard),
        });
    }
    for under in &out {
        under.store.save_events(&under.neighbour).await.unwrap();
    }
    out
}

/// Drops the schemas killed runs left behind, once per test process.
async fn sweep_once(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    reliability_common::servers::pg_sweep(&client).await;
}

/// What a store did with an input.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Stored and read back intact.
    Works,
    /// Refused with `InvalidInput` naming actor and version.
    Refused,
}

#[track_caller]
fn assert_names(err: &StoreError, actor_id: &str, version: i64) {
    let message = err.to_string();
    assert_eq!(err.actor_id(), actor_id, "{message}");
    assert_eq!(err.version(), version, "{message}");
    assert!(
        message.contains(&format!("{actor_id:?}")),
        "names the actor: {message}"
    );
    assert!(
        message.contains(&format!("version {version}")),
        "names the version: {message}"
    );
}

/// Saves two events (and a snapshot) for `actor_id` with payload `data`, reads them back:
/// intact, or refused with an error naming the actor and version, and nothing stored.
async fn round_trip(under: &Under, actor_id: &str, event_type: &str, data: Value) -> Outcome {
    let store = &under.store;
    let events = vec![
        raw_event(actor_id, 1, event_type, data.clone()),
        raw_event(actor_id, 2, event_type, data.clone()),
    ];
    let outcome = match store.save_events(&events).await {
        Ok(()) => {
            let back = store.get_events(actor_id, 0).await.unwrap();
            assert_eq!(back.len(), 2, "{}: both events back", under.name);
            for (b, e) in back.iter().zip(&events) {
                assert_eq!(b.actor_id, e.actor_id, "{}: actor id intact", under.name);
                assert_eq!(b.event_type, e.event_type, "{}", under.name);
                assert!(b.data == e.data, "{}: data intact", under.name);
                assert_eq!(b.version, e.version);
            }
            assert_eq!(store.get_latest_version(actor_id).await.unwrap(), 2);
            assert_eq!(
                store.get_events(actor_id, 2).await.unwrap().len(),
                1,
                "{}: read from the middle",
                under.name
            );
            let snapshot = ActorSnapshot {
                actor_id: actor_id.to_owned(),
                version: 2,
                state: data.clone(),
                timestamp: chrono::Utc::now(),
            };
            store.save_snapshot(&snapshot).await.unwrap();
            let back = store.get_latest_snapshot(actor_id).await.unwrap().unwrap();
            assert!(
                back.state == data && back.version == 2,
                "{}: snapshot intact",
                under.name
            );
            Outcome::Works
        }
        Err(err) => {
            assert!(
                matches!(err, StoreError::InvalidInput { .. }),
                "{}: a clear refusal, got {err:?}",
                under.name
            );
            assert_names(&err, actor_id, 1);
            // Nothing stored; reads of the id answer too (empty or the same refusal).
            match store.get_events(actor_id, 0).await {
                Ok(events) => assert!(events.is_empty(), "{}: nothing stored", under.name),
                Err(err) => assert_names(&err, actor_id, 0),
            }
            Outcome::Refused
        }
    };
    under.neighbour_unchanged().await;
    outcome
}

/// The actor `id` through the runtime: a deposit then, in a fresh runtime, the state
/// rehydrated; or an error naming the actor.
async fn through_runtime(under: &Under, id: &str) -> Outcome {
    let stored = format!("Account|{id}");
    let rt = Runtime::builder(under.store.clone()).build();
    let outcome = match rt
        .actor::<Account>(id)
        .ask(AccountCommand::Deposit(5))
        .await
    {
        Ok(state) => {
            assert_eq!(state.balance, 5);
            rt.shutdown().await;
            let rt = Runtime::builder(under.store.clone()).build();
            let state = rt
                .actor::<Account>(id)
                .ask(AccountCommand::Get)
                .await
                .unwrap();
            assert_eq!(state.balance, 5, "{}: rehydrated", under.name);
            rt.shutdown().await;
            Outcome::Works
        }
        Err(err) => {
            let message = err.to_string();
            assert_eq!(err.actor_id(), stored, "{message}");
            assert!(message.contains(&format!("{stored:?}")), "{message}");
            match err {
                // The append was refused.
                AskError::Store { source, .. } => {
                    assert!(
                        matches!(source, StoreError::InvalidInput { .. }),
                        "{source:?}"
                    );
                    assert!(message.contains("version 1"), "{message}");
                }
                // The runtime refuses an empty id itself, before any store sees it.
                AskError::InvalidId { .. } => {
                    assert!(message.contains("empty"), "{message}");
                }
                // Or already the first read, when the actor started.
                AskError::StartFailed(start) => {
                    let source = start.store_error().expect("a store error");
                    assert!(
                        matches!(source, StoreError::InvalidInput { .. }),
                        "{source:?}"
                    );
                    assert!(message.contains("version 0"), "{message}");
                }
                other => panic!("{}: unexpected {other:?}", under.name),
            }
            rt.shutdown().await;
            Outcome::Refused
        }
    };
    under.neighbour_unchanged().await;
    outcome
}

/// Runs ids through every store and the runtime; returns the outcomes per store.
async fn ids_everywhere(ids: &[String]) -> Vec<(&'static str, Vec<Outcome>)> {
    let mut table = Vec::new();
    for under in stores().await {
        let mut outcomes = Vec::new();
        for id in ids {
            let direct = round_trip(&under, id, "Deposited", json!({ "amount": 1 })).await;
            let runtime = through_runtime(&under, id).await;
            eprintln!(
                "{} {:?}: store {direct:?}, runtime {runtime:?}",
                under.name,
                abbreviate(id)
            );
            outcomes.push(direct);
        }
        table.push((under.name, outcomes));
    }
    table
}

fn abbreviate(s: &str) -> String {
    if s.len() > 40 {
        format!(
            "{}... ({} bytes)",
            s.chars().take(20).collect::<String>(),
            s.len()
        )
    } else {
        s.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_actor_id_is_refused_by_every_store_and_by_the_runtime() {
    for under in stores().await {
        assert_eq!(
            round_trip(&under, "", "Deposited", json!({})).await,
            Outcome::Refused
        );
        for err in [
            under.store.get_events("", 3).await.unwrap_err(),
            under.store.get_latest_snapshot("").await.unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
        }
        // The runtime would store "Account|", which is not empty, but an actor without
        // an id is a caller's mistake: refused with `InvalidId`.
        assert_eq!(through_runtime(&under, "").await, Outcome::Refused);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_long_actor_id_64_kib_works_everywhere() {
    let long = "x".repeat(64 * 1024);
    let long_unicode = "é".repeat(32 * 1024);
    for (_, outcomes) in ids_everywhere(&[long, long_unicode]).await {
        assert!(outcomes.iter().all(|o| *o == Outcome::Works));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacter_ids_are_stored_verbatim() {
    let ids: Vec<String> = [
        "'; DROP TABLE events; --",
        "\"; DROP TABLE \"actors\"; --",
        "a' OR '1'='1",
        "%_\\%",
        "$1 $$ $tag$",
        "Robert'); DELETE FROM snapshots;--",
    ]
    .map(String::from)
    .to_vec();
    for (_, outcomes) in ids_everywhere(&ids).await {
        assert!(outcomes.iter().all(|o| *o == Outcome::Works));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_subject_metacharacter_ids_are_kept_apart() {
    let ids: Vec<String> = [
        "a.b", "a.*", "a.>", "*", ">", "a b", "a\tb", ".", "..", "a|b",
    ]
    .map(String::from)
    .to_vec();
    for (_, outcomes) in ids_everywhere(&ids).await {
        assert!(outcomes.iter().all(|o| *o == Outcome::Works));
    }
    // "a.*" and "a.>" are not wildcards: each id sees only its own events.
    for under in stores().await {
        for id in ["w.1", "w.*", "w.>"] {
            under
                .store
                .save_events(&[raw_event(id, 1, "Deposited", json!({ "amount": 1 }))])
                .await
                .unwrap();
        }
        for id in ["w.1", "w.*", "w.>"] {
            let events = under.store.get_events(id, 0).await.unwrap();
            assert_eq!(events.len(), 1, "{}: {id}", under.name);
            assert_eq!(events[0].actor_id, id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_in_ids_work_or_are_refused_by_name() {
    let ids = vec!["a\0b".to_owned(), "\0".to_owned(), "tail\0".to_owned()];
    for (name, outcomes) in ids_everywhere(&ids).await {
        let expected = if name == "postgres" {
            Outcome::Refused
        } else {
            Outcome::Works
        };
        assert!(
            outcomes.iter().all(|o| *o == expected),
            "{name}: {outcomes:?}"
        );
    }
    // "a\0b" and "a" are two actors.
    for under in stores().await {
        if under.name == "postgres" {
            continue;
        }
        under
            .store
            .save_events(&[raw_event("n", 1, "Deposited", json!({ "amount": 1 }))])
            .await
            .unwrap();
        under
            .store
            .save_events(&[raw_event("n\0x", 1, "Deposited", json!({ "amount": 2 }))])
            .await
            .unwrap();
        assert_eq!(
            under.store.get_events("n", 0).await.unwrap()[0].data["amount"],
            1
        );
        assert_eq!(
            under.store.get_events("n\0x", 0).await.unwrap()[0].data["amount"],
            2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_ids_rtl_marks_combining_chars_and_emoji_are_stored_verbatim() {
    let ids: Vec<String> = [
        "\u{202E}gnp.exe",                       // right-to-left override
        "\u{200F}שלום\u{200E}",                  // RTL and LTR marks
        "e\u{301}",                              // e + combining acute: not "é" (U+00E9)
        "\u{e9}",                                // precomposed é: another actor
        "Z\u{351}\u{34d}\u{354}a\u{35b}\u{33c}", // stacked combining marks
        "\u{FEFF}bom",                           // zero-width no-break space
        "🦀👩‍👩‍👧",
        "\u{FFFF}\u{10FFFF}", // noncharacters
    ]
    .map(String::from)
    .to_vec();
    for (_, outcomes) in ids_everywhere(&ids).await {
        assert!(outcomes.iter().all(|o| *o == Outcome::Works));
    }
}

#[test]
fn lone_surrogate_escapes_in_json_are_a_decode_error() {
    for text in [
        r#"{"id":"e","eventType":"T","actorId":"\ud800","version":1,"data":{},"timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"id":"e","eventType":"T","actorId":"a","version":1,"data":{"s":"\udfff"},"timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"actorId":"a","version":1,"state":{"s":"\ud83d"},"timestamp":"2026-01-01T00:00:00Z"}"#,
    ] {
        let event = serde_json::from_str::<Event>(text);
        let snapshot = serde_json::from_str::<ActorSnapshot>(text);
        assert!(event.is_err() && snapshot.is_err(), "{text}");
    }
    // A valid pair is fine.
    let ok = r#"{"id":"e","eventType":"T","actorId":"\ud83e\udd80","version":1,"data":{},"timestamp":"2026-01-01T00:00:00Z"}"#;
    assert_eq!(serde_json::from_str::<Event>(ok).unwrap().actor_id, "🦀");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_event_is_stored_and_read_back_intact() {
    let big = json!({ "blob": "x".repeat(10 * 1024 * 1024), "n": 1 });
    for under in stores().await {
        assert_eq!(
            round_trip(&under, "big", "Blob", big.clone()).await,
            Outcome::Works
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_object_data_is_stored_as_is_and_the_actor_names_the_undecodable_version() {
    let payloads = [
        json!([1, 2]),
        json!(42),
        json!(-1.5),
        json!("text"),
        json!(null),
        json!(true),
    ];
    for under in stores().await {
        for (i, data) in payloads.iter().enumerate() {
            let id = format!("non-object-{i}");
            assert_eq!(
                round_trip(&under, &id, "Deposited", data.clone()).await,
                Outcome::Works
            );
            // Through the runtime: an actor whose history holds it cannot start, and says
            // which actor and version.
            let rt = Runtime::builder(under.store.clone()).build();
            let err = rt.actor::<Account>(&id).ask(AccountCommand::Get).await;
            // The stored id is `id`, not "Account|{id}": write one under the runtime's id.
            assert!(err.is_ok(), "an unknown actor starts empty");
            let stored = format!("Account|{id}");
            under
                .store
                .save_events(&[
                    raw_event(&stored, 1, "Deposited", json!({ "amount": 3 })),
                    raw_event(&stored, 2, "Deposited", data.clone()),
                ])
                .await
                .unwrap();
            rt.shutdown().await;
            let rt = Runtime::builder(under.store.clone()).build();
            match rt
                .actor::<Account>(&id)
                .ask(AccountCommand::Deposit(1))
                .await
            {
                Err(AskError::StartFailed(err)) => {
                    let message = err.to_string();
                    assert_eq!((err.actor_id(), err.version()), (stored.as_str(), 2));
                    assert!(message.contains(&format!("{stored:?}")), "{message}");
                    assert!(message.contains("version 2"), "{message}");
                    assert!(message.contains("Deposited"), "{message}");
                }
                other => panic!("{}: expected a start error, got {other:?}", under.name),
            }
            rt.shutdown().await;
            under.neighbour_unchanged().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_json_strings_works_or_is_refused_by_name() {
    for under in stores().await {
        let outcome = round_trip(&under, "nul-json", "Deposited", json!({ "s": "a\u{0}b" })).await;
        let expected = if under.name == "postgres" {
            Outcome::Refused
        } else {
            Outcome::Works
        };
        assert_eq!(outcome, expected, "{}", under.name);
        let outcome = round_trip(&under, "nul-type", "De\0posited", json!({})).await;
        assert_eq!(outcome, expected, "{}", under.name);
    }
}

/// Corrupts one column of the victim's event 2 (and its snapshot) with a raw connection,
/// then reads: an error naming the actor and version 2, and the runtime the same.
async fn after_corruption(
    under: &Under,
    victim: &str,
    bad_version: i64,
    corrupt: impl AsyncFnOnce(),
) {
    let stored = format!("Account|{victim}");
    under
        .store
        .save_events(&[
            raw_event(&stored, 1, "Deposited", json!({ "amount": 1 })),
            raw_event(&stored, 2, "Deposited", json!({ "amount": 2 })),
            raw_event(&stored, 3, "Deposited", json!({ "amount": 3 })),
        ])
        .await
        .unwrap();
    corrupt().await;
    let err = under.store.get_events(&stored, 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Serialization { .. }), "{err:?}");
    assert_names(&err, &stored, bad_version);
    eprintln!("{}: {err}", under.name);
    // Reading after the corrupt row: the tail, or (a broken chain) the same error.
    match under.store.get_events(&stored, 3).await {
        Ok(tail) => assert_eq!(tail.len(), 1),
        Err(err) => assert_eq!(err.actor_id(), stored, "{err}"),
    }
    let rt = Runtime::builder(under.store.clone()).build();
    match rt.actor::<Account>(victim).ask(AccountCommand::Get).await {
        Err(AskError::StartFailed(err)) => {
            assert_eq!(err.actor_id(), stored);
            assert!(err.to_string().contains(&format!("{stored:?}")), "{err}");
            // The start error names the corrupt record's version, not the one read from.
            assert_eq!(err.version(), bad_version, "{err}");
            assert!(
                err.to_string().contains(&format!("version {bad_version}")),
                "{err}"
            );
        }
        other => panic!("{}: expected a start error, got {other:?}", under.name),
    }
    let neighbour = rt
        .actor::<Account>("neighbour")
        .ask(AccountCommand::Get)
        .await
        .unwrap();
    assert_eq!(neighbour.balance, 3);
    rt.shutdown().await;
    under.neighbour_unchanged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_sqlite_row_is_a_serialization_error_naming_actor_and_version() {
    // (column, SQL value, the version the error names: the row's own)
    let corruptions = [
        ("data", "'not json {'", 2),
        ("data", "X'00ff'", 2),
        ("ts_nanos", "-1", 2),
        ("ts_secs", "9223372036854775807", 2),
        ("event_type", "X'00ff'", 2),
        ("id", "X'ff'", 2),
        ("event_type", "CAST(X'ff' AS TEXT)", 2),
        ("version", "7", 7),
        ("actor_key", "actor_key + 1000", 2),
        ("prev_seq", "seq", 2),
    ];
    let under = stores()
        .await
        .into_iter()
        .find(|u| u.name == "sqlite")
        .unwrap();
    let path = under.sqlite_path.clone().unwrap();
    for (i, (column, value, bad_version)) in corruptions.iter().enumerate() {
        let victim = format!("victim-{i}");
        let stored = format!("Account|{victim}");
        let path = path.clone();
        after_corruption(&under, &victim, *bad_version, async move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            let changed = conn
                .execute(
                    &format!(
                        "UPDATE events SET {column} = {value} WHERE version = 2 AND actor_key = \
                         (SELECT actor_key FROM actors WHERE actor_id = ?1)"
                    ),
                    [&stored],
                )
                .unwrap();
            assert_eq!(changed, 1, "{column} = {value}");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_postgres_row_is_a_serialization_error_naming_actor_and_version() {
    let Some(under) = stores().await.into_iter().find(|u| u.name == "postgres") else {
        return;
    };
    let (url, schema) = under.pg.clone().unwrap();
    let corruptions = [
        ("recorded_nanos", "-1", 2),
        ("recorded_nanos", "2000000000", 2),
        ("recorded_at", "'infinity'", 2),
    ];
    for (i, (column, value, bad_version)) in corruptions.iter().enumerate() {
        let victim = format!("victim-{i}");
        let stored = format!("Account|{victim}");
        let (url, schema) = (url.clone(), schema.clone());
        after_corruption(&under, &victim, *bad_version, async move || {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(connection);
            let changed = client
                .execute(
                    &format!(
                        "UPDATE \"{schema}\".events SET {column} = {value} \
                         WHERE actor_id = $1 AND version = 2"
                    ),
                    &[&stored],
                )
                .await
                .unwrap();
            assert_eq!(changed, 1);
            drop(client);
            let _ = task.await;
        })
        .await;
    }
}

/// Garbage the schema allows, which only the actor can refuse: a payload of the wrong
/// shape and an unknown event type, written behind the store's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_rows_the_schema_allows_fail_the_actor_by_name() {
    for under in stores().await {
        let Some((url, schema)) = under.pg.clone() else {
            continue;
        };
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        under
            .store
            .save_events(&[
                raw_event("Account|g", 1, "Deposited", json!({ "amount": 1 })),
                raw_event("Account|g", 2, "Deposited", json!({ "amount": 2 })),
            ])
            .await
            .unwrap();
        client
            .execute(
                &format!("UPDATE \"{schema}\".events SET data = '\"str\"', event_type = 'Nope' WHERE actor_id = 'Account|g' AND version = 2"),
                &[],
            )
            .await
            .unwrap();
        let rt = Runtime::builder(under.store.clone()).build();
        match rt.actor::<Account>("g").ask(AccountCommand::Get).await {
            Err(AskError::StartFailed(err)) => {
                assert_eq!((err.actor_id(), err.version()), ("Account|g", 2), "{err}");
                assert!(
                    err.to_string().contains("unknown event type \"Nope\""),
                    "{err}"
                );
            }
            other => panic!("expected a start error, got {other:?}"),
        }
        rt.shutdown().await;
        under.neighbour_unchanged().await;
        drop(client);
        let _ = task.await;
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("Deposited")),
        Just(json!("amount")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("amount".to_owned()),
                    Just("balance".to_owned()),
                    Just("applied".to_owned()),
                    ".{0,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Deposited".to_owned()),
        Just("Withdrawn".to_owned()),
        ".{0,10}"
    ]
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The fuzz targets' checks (fuzz/), on arbitrary bytes.
    #[test]
    fn arbitrary_bytes_decode_to_a_record_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        ledger::check_event_bytes(&bytes);
        ledger::check_snapshot_bytes(&bytes);
        let (history, snapshot) = ledger::history_from_bytes(&bytes);
        current_thread().block_on(ledger::check_rehydration(history, snapshot));
    }

    /// Arbitrary JSON in every field of an event and a snapshot.
    #[test]
    fn arbitrary_json_decodes_to_a_record_or_an_error(
        id in json_value(), event_type in json_value(), actor in json_value(),
        version in json_value(), data in json_value(), ts in json_value(),
    ) {
        let event = json!({"id": id, "eventType": event_type, "actorId": actor, "version": version, "data": data, "timestamp": ts});
        ledger::check_event_bytes(event.to_string().as_bytes());
        let snapshot = json!({"actorId": actor, "version": version, "state": data, "timestamp": ts});
        ledger::check_snapshot_bytes(snapshot.to_string().as_bytes());
    }

    /// An actor whose store holds arbitrary events and an arbitrary snapshot answers its
    /// state or a start error naming actor and version; never panics.
    #[test]
    fn arbitrary_stored_histories_rehydrate_or_fail_by_name(
        history in prop::collection::vec((event_type(), json_value()), 0..8),
        snapshot in prop::option::of(json_value()),
    ) {
        current_thread().block_on(ledger::check_rehydration(history, snapshot));
    }
}

/// An offset timestamp that is past year 9999 in UTC decodes, and its encoding
/// ("+10000-...") reads back to the same instant.
#[test]
fn a_timestamp_past_year_9999_in_utc_reads_back() {
    let text = r#"{"id":"e","eventType":"T","actorId":"a","version":1,"data":{},"timestamp":"9999-12-31T23:00:00-05:00"}"#;
    let event: Event = serde_json::from_str(text).unwrap();
    let encoded = serde_json::to_string(&event).unwrap();
    assert!(encoded.contains("+10000-"), "{encoded}");
    assert_eq!(serde_json::from_str::<Event>(&encoded).unwrap(), event);
}
