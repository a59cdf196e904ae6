//! Row 5: durable stores through the aether *runtime* (each deposit is an `ask` whose
//! event the store has acknowledged), beside raw clients of the same backend.
//!
//! Servers: `AETHER_BENCH_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `AETHER_BENCH_NATS_URL` (default `nats://127.0.0.1:4222`). A row whose server is down
//! is skipped with the reason.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether_core::{Event, SnapshotStore};
use aether_runtime::Runtime;
use serde_json::json;

use crate::domain::*;
use crate::harness::{new_rt, warm_then_run};
use crate::stats::{Measured, Row};
use crate::Config;

fn workload(store: &str, actors: usize) -> String {
    if actors == 1 {
        format!("{store}: durable deposit, 1 actor, 1 client sequential")
    } else {
        format!("{store}: durable deposit, {actors} actors, 1 client each")
    }
}

/// The aether runtime over `store`: `actors` clients, each asking its own actor.
async fn aether_on(
    store: Arc<dyn SnapshotStore>,
    actors: usize,
    dur: Duration,
    tag: &str,
) -> Measured {
    let tag = tag.to_owned();
    tokio::spawn(async move { aether_on_worker(store, actors, dur, &tag).await })
        .await
        .expect("measurement task")
}

async fn aether_on_worker(
    store: Arc<dyn SnapshotStore>,
    actors: usize,
    dur: Duration,
    tag: &str,
) -> Measured {
    let runtime = Runtime::new(store);
    let clients = (0..actors)
        .map(|i| AetherClient(runtime.actor::<Account>(format!("{tag}-{i}"))))
        .collect();
    let m = warm_then_run(clients, dur).await;
    runtime.shutdown().await;
    m
}

/// An event shaped like the runtime's (UUID-length id, a command id, a small payload).
fn raw_event(actor: &str, version: i64) -> Event {
    Event {
        id: format!("0190f3a2-7c1e-7b3a-9d2f-{version:012}"),
        event_type: "Deposited".into(),
        actor_id: actor.to_owned(),
        command_id: None,
        version,
        data: json!({ "amount": 1 }),
        timestamp: chrono::Utc::now(),
    }
}

pub(crate) fn unique_suffix() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{}_{secs}", std::process::id())
}

// ------------------------------------------------------------------------- SQLite

pub(crate) fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-data")
        .join(format!("{name}-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).expect("bench data dir");
    dir
}

/// rusqlite alone on the store's schema, with the store's statements (version check,
/// insert, chain update), `SYNCHRONOUS = FULL` like the store's default: `batch` events
/// per transaction, one per actor, for `dur`.
pub(crate) fn sqlite_raw(
    path: &std::path::Path,
    actors: usize,
    batch: usize,
    dur: Duration,
) -> Measured {
    use rusqlite::{params, Connection};
    let conn = Connection::open(path).expect("raw open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -32768;",
    )
    .expect("pragmas");
    let mut keys = Vec::with_capacity(actors);
    for a in 0..actors {
        conn.execute(
            "INSERT INTO actors (actor_id, latest_version) VALUES (?1, 0)",
            [format!("Account|raw-{a}")],
        )
        .expect("actor row");
        keys.push(conn.last_insert_rowid());
    }
    let mut m = Measured::default();
    let started = Instant::now();
    let mut v = 0i64;
    let mut next_actor = 0usize;
    while started.elapsed() < dur {
        v += 1;
        let t = Instant::now();
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut latest = tx
                .prepare_cached(
                    "SELECT latest_version, latest_seq FROM actors WHERE actor_key = ?1",
                )
                .expect("prepare");
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (actor_key, version, prev_seq, id, event_type, command_id, \
                     data, ts_secs, ts_nanos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .expect("prepare");
            let mut update = tx
                .prepare_cached(
                    "UPDATE actors SET latest_version = ?2, latest_seq = ?3 WHERE actor_key = ?1",
                )
                .expect("prepare");
            for _ in 0..batch {
                let key = keys[next_actor];
                next_actor = (next_actor + 1) % keys.len();
                let (current, prev): (i64, Option<i64>) = latest
                    .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .expect("latest");
                let version = current + 1;
                let e = raw_event("raw", version);
                let data = serde_json::to_string(&e.data).expect("json");
                insert
                    .execute(params![
                        key,
                        version,
                        prev,
                        e.id,
                        e.event_type,
                        e.command_id,
                        data,
                        e.timestamp.timestamp(),
                        e.timestamp.timestamp_subsec_nanos()
                    ])
                    .expect("insert");
                update
                    .execute(params![key, version, tx.last_insert_rowid()])
                    .expect("update");
            }
        }
        tx.commit().expect("commit");
        m.lat.push(t.elapsed().as_nanos() as u64);
        m.ops += batch as u64;
    }
    let _ = v;
    m.secs = started.elapsed().as_secs_f64();
    m.finish()
}

pub fn sqlite(cfg: &Config) -> Result<Vec<Row>, String> {
    use aether_sqlite::SqliteStore;
    let dir = data_dir("sqlite");
    let mut rows = Vec::new();
    for (i, actors) in [1usize, cfg.actors].into_iter().enumerate() {
        let wl = workload("SQLite (FULL)", actors);
        let path = dir.join(format!("aether-{i}.db"));
        let m = new_rt().block_on(async {
            let store = SqliteStore::open(&path).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(aether_on(Arc::new(store), actors, cfg.dur, "acc").await)
        })?;
        let aether = Row::new(&wl, "aether runtime on SqliteStore", &m)
            .note("ask acknowledged after the group commit's fsync");
        crate::progress(Some(&aether));

        // Raw: the schema comes from the store itself, then rusqlite alone.
        let raw_path = dir.join(format!("raw-{i}.db"));
        new_rt().block_on(async {
            let store = SqliteStore::open(&raw_path)
                .await
                .map_err(|e| e.to_string())?;
            store.close().await.map_err(|e| e.to_string())
        })?;
        let batch = if actors == 1 { 1 } else { actors };
        let raw = sqlite_raw(&raw_path, actors, batch, cfg.dur);
        let (raw_name, raw_note) = if actors == 1 {
            (
                "raw rusqlite, 1 event per transaction",
                "same schema and statements; p50/p99 per transaction",
            )
        } else {
            (
                "raw rusqlite, 1,000-event transactions",
                "same schema and statements, 1 event per actor per transaction; p50/p99 per transaction",
            )
        };
        let raw = Row::new(&wl, raw_name, &raw).note(raw_note);
        crate::progress(Some(&raw));
        let base = raw.value;
        rows.push(aether.vs(base, "raw"));
        rows.push(Row {
            ratio: Some((1.0, "ref".into())),
            ..raw
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

// --------------------------------------------------------------------- PostgreSQL

pub(crate) fn pg_url() -> String {
    std::env::var("AETHER_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

const RAW_COLUMNS: &str =
    "actor_id, version, event_id, event_type, command_id, data, recorded_at, recorded_nanos";

pub(crate) async fn pg_client(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(client)
}

/// Raw tokio-postgres into a table shaped like the store's `events`, no version check:
/// `connections` connections, each inserting UNNEST batches of `batch` rows in a loop.
async fn pg_raw(
    url: &str,
    schema: &str,
    connections: usize,
    batch: usize,
    dur: Duration,
) -> Measured {
    let sql = Arc::new(if batch == 1 {
        format!(
            "INSERT INTO \"{schema}\".raw_events ({RAW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
    } else {
        format!(
            "INSERT INTO \"{schema}\".raw_events ({RAW_COLUMNS}) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
             $6::jsonb[], $7::timestamptz[], $8::integer[])"
        )
    });
    let stop = Arc::new(AtomicBool::new(false));
    let version = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (url, sql, stop, version) = (
                url.to_owned(),
                Arc::clone(&sql),
                Arc::clone(&stop),
                Arc::clone(&version),
            );
            tokio::spawn(async move {
                let client = pg_client(&url).await.expect("raw connect");
                let insert = client.prepare(&sql).await.expect("prepare");
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let v = version.fetch_add(1, Ordering::Relaxed) as i64 + 1;
                    let events: Vec<Event> = (0..batch)
                        .map(|i| raw_event(&format!("Account|raw{batch}-{c}-{i}"), v))
                        .collect();
                    let t = Instant::now();
                    if batch == 1 {
                        let e = &events[0];
                        client
                            .execute(
                                &insert,
                                &[
                                    &e.actor_id,
                                    &e.version,
                                    &e.id,
                                    &e.event_type,
                                    &e.command_id,
                                    &e.data,
                                    &e.timestamp,
                                    &0_i32,
                                ],
                            )
                            .await
                            .expect("insert");
                    } else {
                        let actor: Vec<&str> = events.iter().map(|e| e.actor_id.as_str()).collect();
                        let ver: Vec<i64> = events.iter().map(|e| e.version).collect();
                        let id: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
                        let kind: Vec<&str> =
                            events.iter().map(|e| e.event_type.as_str()).collect();
                        let command: Vec<Option<&str>> =
                            events.iter().map(|e| e.command_id.as_deref()).collect();
                        let data: Vec<&serde_json::Value> =
                            events.iter().map(|e| &e.data).collect();
                        let at: Vec<_> = events.iter().map(|e| e.timestamp).collect();
                        let nanos = vec![0_i32; batch];
                        client
                            .execute(
                                &insert,
                                &[&actor, &ver, &id, &kind, &command, &data, &at, &nanos],
                            )
                            .await
                            .expect("insert batch");
                    }
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut m = Measured::default();
    for task in tasks {
        let lat = task.await.expect("raw task");
        m.ops += (lat.len() * batch) as u64;
        m.lat.extend(lat);
    }
    m.secs = started.elapsed().as_secs_f64();
    m.finish()
}

/// The cqrs-es + postgres-es helper (`aether-bench/cqrs-pg`, its own package because
/// postgres-es's sqlx conflicts with rusqlite), run as a child process. Built on demand.
fn cqrs_pg(url: &str, schema: &str, actors: usize, dur: Duration) -> Result<Measured, String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cqrs-pg/Cargo.toml");
    let exe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cqrs-pg/target/release/cqrs-pg");
    if !exe.exists() {
        eprintln!("  building the cqrs-es/postgres-es helper (once): cargo build --release --manifest-path {}", manifest.display());
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "--quiet", "--manifest-path"])
                .arg(&manifest)
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("building cqrs-pg failed".into());
        }
    }
    let out = std::process::Command::new(&exe)
        .args([
            url,
            schema,
            &actors.to_string(),
            &dur.as_secs_f64().to_string(),
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cqrs-pg: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("CQRSPG "))
        .ok_or_else(|| format!("cqrs-pg printed no result (exit {})", out.status))?;
    let f: Vec<&str> = line.split_whitespace().skip(1).collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // A latency sample list is not passed back; p50/p99 come as two samples.
    Ok(Measured {
        ops: num(0) as u64,
        secs: num(1),
        lat: vec![num(2) as u64, num(3) as u64],
    })
}

pub fn postgres(cfg: &Config) -> Result<Vec<Row>, String> {
    use aether_postgres::PostgresStore;
    let url = pg_url();
    let schema = format!("aether_bench_{}", unique_suffix());
    let rt = new_rt();
    let mut builder = PostgresStore::builder(url.clone())
        .schema(schema.clone())
        .application_name("aether_bench")
        .connect_timeout(Duration::from_secs(3));
    // `AETHER_BENCH_PG_WRITERS`: the store's group-commit writers (the store's default
    // otherwise), to compare settings with one build.
    if let Some(writers) = std::env::var("AETHER_BENCH_PG_WRITERS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        builder = builder.writers(writers);
    }
    let store = rt
        .block_on(builder.connect())
        .map_err(|e| format!("PostgreSQL at {url} unavailable: {e}"))?;
    let store: Arc<dyn SnapshotStore> = Arc::new(store);
    rt.block_on(async {
        let admin = pg_client(&url).await?;
        admin
            .batch_execute(&format!(
                "CREATE TABLE \"{schema}\".raw_events (LIKE \"{schema}\".events INCLUDING ALL)"
            ))
            .await
            .map_err(|e| e.to_string())
    })?;
    let mut rows = Vec::new();
    for actors in [1usize, cfg.actors] {
        let wl = workload("PostgreSQL", actors);
        let m = rt.block_on(aether_on(
            Arc::clone(&store),
            actors,
            cfg.dur,
            &format!("acc{actors}"),
        ));
        let aether = Row::new(&wl, "aether runtime on PostgresStore", &m)
            .note("ask acknowledged after the group commit");
        crate::progress(Some(&aether));
        let (connections, batch, raw_name, raw_note) = if actors == 1 {
            (
                1,
                1,
                "raw tokio-postgres, 1 INSERT per event",
                "prepared single-row INSERT, 1 connection, no version check",
            )
        } else {
            (8, actors / 8, "raw tokio-postgres, UNNEST batches", "8 connections × 125-row UNNEST INSERTs (1,000 in flight), no version check; p50/p99 per batch")
        };
        let raw = rt.block_on(pg_raw(&url, &schema, connections, batch, cfg.dur));
        let raw = Row::new(&wl, raw_name, &raw).note(raw_note);
        crate::progress(Some(&raw));
        let cq = match cqrs_pg(&url, &schema, actors, cfg.dur) {
            Ok(m) => Some(
                Row::new(&wl, "cqrs-es + postgres-es", &m)
                    .lat(Some(Duration::from_nanos(m.lat[0])), Some(Duration::from_nanos(m.lat[1])))
                    .note("default postgres_cqrs: loads all the aggregate's events per command; sqlx pool of 10"),
            ),
            Err(e) => {
                eprintln!("  cqrs-es + postgres-es skipped: {e}");
                None
            }
        };
        let base = raw.value;
        let mut aether = aether.vs(base, "raw");
        if let Some(cq) = &cq {
            if cq.value > 0.0 {
                aether.note = format!(
                    "{}; {:.1}× cqrs-es + postgres-es",
                    aether.note,
                    aether.value / cq.value
                );
            }
        }
        rows.push(aether);
        rows.push(Row {
            ratio: Some((1.0, "ref".into())),
            ..raw
        });
        if let Some(cq) = cq {
            crate::progress(Some(&cq));
            rows.push(cq.vs(base, "raw"));
        }
    }
    drop(store);
    // A fresh schema per run: drop it at the end.
    let _ = new_rt().block_on(async {
        let admin = pg_client(&url).await?;
        admin
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .map_err(|e| e.to_string())
    });
    Ok(rows)
}

// --------------------------------------------------------------------------- NATS

pub(crate) fn nats_url() -> String {
    std::env::var("AETHER_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Raw async-nats: `subjects` tasks, each publishing the seed's JSON of an event to its
/// own subject of the store's stream and awaiting the ack, in a loop.
async fn nats_raw(
    js: async_nats::jetstream::Context,
    prefix: String,
    subjects: usize,
    dur: Duration,
) -> Measured {
    let payload: bytes::Bytes = serde_json::to_vec(&raw_event("Account|raw", 1))
        .expect("json")
        .into();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..subjects)
        .map(|s| {
            let (js, payload, stop) = (js.clone(), payload.clone(), Arc::clone(&stop));
            let subject = format!("{prefix}raw-{s}");
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    js.publish(subject.clone(), payload.clone())
                        .await
                        .expect("publish")
                        .await
                        .expect("ack");
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut m = Measured::default();
    for task in tasks {
        let lat = task.await.expect("raw task");
        m.ops += lat.len() as u64;
        m.lat.extend(lat);
    }
    m.secs = started.elapsed().as_secs_f64();
    m.finish()
}

pub fn nats(cfg: &Config) -> Result<Vec<Row>, String> {
    use aether_nats::NatsStore;
    let url = nats_url();
    let rt = new_rt();
    let store = rt
        .block_on(
            NatsStore::builder(&url)
                .namespace(format!("bench-{}", unique_suffix().replace('_', "-")))
                .connect_timeout(Duration::from_secs(3))
                .connect(),
        )
        .map_err(|e| format!("NATS at {url} unavailable: {e}"))?;
    let js = rt.block_on(async { async_nats::jetstream::new(store.client().clone()) });
    let prefix = store
        .layout()
        .event_subject("x")
        .ok_or("no subject")?
        .trim_end_matches('x')
        .to_owned();
    let store = Arc::new(store);
    let mut rows = Vec::new();
    for actors in [1usize, cfg.actors] {
        let wl = workload("NATS JetStream", actors);
        let m = rt.block_on(aether_on(
            Arc::clone(&store) as Arc<dyn SnapshotStore>,
            actors,
            cfg.dur,
            &format!("acc{actors}"),
        ));
        let aether = Row::new(&wl, "aether runtime on NatsStore", &m)
            .note("ask acknowledged after the stream's publish ack");
        crate::progress(Some(&aether));
        let raw = rt.block_on(nats_raw(js.clone(), prefix.clone(), actors, cfg.dur));
        let raw = Row::new(&wl, "raw async-nats publish + ack", &raw).note(format!(
            "{actors} subject(s) of the same stream, 1 task each, no expected-sequence header"
        ));
        crate::progress(Some(&raw));
        let base = raw.value;
        rows.push(aether.vs(base, "raw"));
        rows.push(Row {
            ratio: Some((1.0, "ref".into())),
            ..raw
        });
    }
    let _ = rt.block_on(store.delete_namespace());
    match crate::nats_rows::restart(cfg) {
        Ok(restart) => rows.extend(restart),
        Err(reason) => crate::skipped_part("nats", format!("restart rows: {reason}")),
    }
    Ok(rows)
}
