//! Section `projection` (issue 12): the read side.
//!
//! 1. **Catch-up** from a SQLite file of 1,000,000 stored events (100,000 with `--quick`),
//!    1,000 actors (`"Account|a-17"`), written with `SqliteStore::save_events` in
//!    100-event batches. The reference is a raw rusqlite scan of the same rows (every
//!    column of `events` joined to `actors` for the actor id, as the store reads them;
//!    strings read, JSON not parsed). Beside it: the whole feed read with `read_feed` in
//!    pages; a projection runner into an in-memory read model (`AtLeastOnce`, checkpoints
//!    in the same store) from the start to `wait_for_head()`, fed owned `FeedEvent`s or
//!    `Decoded<Deposit>` items (`FeedDecode` on the lent rows, `visit_feed`); and an
//!    exactly-once projection (`SqliteStore::exactly_once`) inserting one row per event,
//!    owned or decoded (the decoded handler prepares its statement once per batch with
//!    `handle_batch`), at the sink's `synchronous` FULL or NORMAL; at several batch sizes
//!    (`MEM_RUNS`, `EO_RUNS`).
//! 2. **Live lag** append → handler: 1,000 actors, each writing one event every 500 ms
//!    straight through the store (`save_event`, versions 1, 2, …; 2,000 events/s in
//!    total, phases spread evenly), the event's data carrying the append time (nanos since
//!    a shared `Instant`, taken just before `save_event`); an at-least-once projection
//!    records `now - appended` per event. Warm-up skipped. On `InMemoryStore` (the
//!    reference), SQLite (FULL), PostgreSQL (a fresh schema `bench_proj_<pid>_<secs>`,
//!    dropped after) and NATS JetStream (a fresh namespace, deleted after). A server that
//!    is down skips its row with the reason.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::{
    async_trait, AtLeastOnce, CheckpointStore, Decoded, Event, EventFeed, EventRef, EventStore,
    FeedDecode, FeedEvent, FeedFilter, HandlerError, InMemoryStore, Position, Projection,
    SinkError,
};
use aether_runtime::projection::{self, ProjectionOptions};
use aether_sqlite::rusqlite;
use aether_sqlite::{SqliteProjection, SqliteStore, Synchronous};
use serde_json::json;

use crate::harness::new_rt;
use crate::stats::{Measured, Row};
use crate::stores::{data_dir, nats_url, pg_client, pg_url, unique_suffix};
use crate::Config;

/// Actors of the stored history and of the live writers.
const ACTORS: usize = 1_000;
/// Events per `save_events` call when filling the file.
const SEED_BATCH: usize = 100;
/// The batch sizes tried for the feed reads and the projections.
const BATCHES: [usize; 3] = [256, 1_000, 4_096];
/// The in-memory projection runs: (decoded, batch size).
const MEM_RUNS: [(bool, usize); 5] = [
    (false, 256),
    (false, 1_000),
    (false, 4_096),
    (true, 1_000),
    (true, 4_096),
];
/// The exactly-once runs: (decoded, batch size, the sink's synchronous level).
const EO_RUNS: [(bool, usize, Synchronous); 6] = [
    (false, 1_000, Synchronous::Full),
    (false, 4_096, Synchronous::Full),
    (true, 1_000, Synchronous::Full),
    (true, 4_096, Synchronous::Full),
    (true, 1_000, Synchronous::Normal),
    (true, 4_096, Synchronous::Normal),
];
/// Total append rate of the live rows, events/s.
const LIVE_RATE: f64 = 2_000.0;

fn event(actor: &str, actor_no: usize, version: i64, data: serde_json::Value) -> Event {
    Event {
        id: format!("0190f3a2-7c1e-7b3a-{actor_no:04x}-{version:012x}"),
        event_type: "Deposited".into(),
        actor_id: actor.to_owned(),
        command_id: None,
        version,
        data,
        timestamp: chrono::Utc::now(),
    }
}

/// " (default)" for the runner's default batch size.
fn default_mark(batch: usize) -> &'static str {
    // The runner's default (`ProjectionOptions::batch_size`).
    if batch == 4_096 {
        " (default)"
    } else {
        ""
    }
}

fn thousands(n: usize) -> String {
    if n >= 1_000 {
        format!("{},{:03}", n / 1_000, n % 1_000)
    } else {
        n.to_string()
    }
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, String> {
    let mut rows = catch_up(cfg)?;
    rows.extend(live(cfg));
    Ok(rows)
}

// ---------------------------------------------------------------------- catch-up

/// Fills `path` with `total` events over [`ACTORS`] actors, `SEED_BATCH` per call, 32
/// calls in flight (group commits of the store's writer), `synchronous = NORMAL` for
/// speed; a normal store file otherwise.
async fn seed(path: &Path, total: usize) -> Result<(), String> {
    let store = Arc::new(
        SqliteStore::builder(path)
            .synchronous(Synchronous::Normal)
            .open()
            .await
            .map_err(|e| e.to_string())?,
    );
    let per_actor = total / ACTORS;
    let tasks = 32;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for a in (t..ACTORS).step_by(tasks) {
                    let actor = format!("Account|a-{a}");
                    let mut v = 0i64;
                    while (v as usize) < per_actor {
                        let n = SEED_BATCH.min(per_actor - v as usize);
                        let batch: Vec<Event> = (0..n)
                            .map(|i| {
                                let version = v + 1 + i as i64;
                                event(&actor, a, version, json!({ "amount": version % 7 + 1 }))
                            })
                            .collect();
                        store
                            .append_events(batch)
                            .await
                            .map_err(|e| e.to_string())?;
                        v += n as i64;
                    }
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    SqliteStore::close_shared(store)
        .await
        .map_err(|e| e.to_string())
}

const RAW_SELECT: &str = "SELECT e.seq, a.actor_id, e.version, e.id, e.event_type, e.command_id, \
     e.data, e.ts_secs, e.ts_nanos FROM events e LEFT JOIN actors a ON a.actor_key = e.actor_key";

/// Reads one row's columns as the store's reader does, strings owned, JSON not parsed.
fn read_raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<usize> {
    let seq: i64 = r.get(0)?;
    let actor: String = r.get(1)?;
    let version: i64 = r.get(2)?;
    let id: String = r.get(3)?;
    let kind: String = r.get(4)?;
    let command: Option<String> = r.get(5)?;
    let data: String = r.get(6)?;
    let secs: i64 = r.get(7)?;
    let nanos: i64 = r.get(8)?;
    black_box((seq, version, secs, nanos));
    Ok(actor.len() + id.len() + kind.len() + command.map_or(0, |c| c.len()) + data.len())
}

fn raw_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("raw open")
}

/// One `SELECT … ORDER BY seq` over the whole table: events, seconds.
fn raw_scan(path: &Path) -> (u64, f64) {
    let conn = raw_conn(path);
    let started = Instant::now();
    let mut stmt = conn
        .prepare(&format!("{RAW_SELECT} ORDER BY e.seq"))
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let (mut n, mut bytes) = (0u64, 0usize);
    while let Some(r) = rows.next().expect("row") {
        bytes += read_raw_row(r).expect("columns");
        n += 1;
    }
    black_box(bytes);
    (n, started.elapsed().as_secs_f64())
}

/// The same rows in pages of `page` (`seq > ? ORDER BY seq LIMIT ?`), one statement
/// per page: events, seconds.
fn raw_paged(path: &Path, page: usize) -> (u64, f64) {
    let conn = raw_conn(path);
    let started = Instant::now();
    let mut stmt = conn
        .prepare(&format!(
            "{RAW_SELECT} WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
        ))
        .expect("prepare");
    let (mut n, mut bytes, mut after) = (0u64, 0usize, 0i64);
    loop {
        let mut rows = stmt.query([after, page as i64]).expect("query");
        let mut got = 0;
        while let Some(r) = rows.next().expect("row") {
            after = r.get(0).expect("seq");
            bytes += read_raw_row(r).expect("columns");
            got += 1;
        }
        n += got;
        if got < page as u64 {
            break;
        }
    }
    black_box(bytes);
    (n, started.elapsed().as_secs_f64())
}

/// As [`raw_paged`], but each page read on one of tokio's blocking threads (as the
/// store's reads run), awaited from a task: events, seconds.
async fn raw_paged_blocking(path: &Path, page: usize) -> (u64, f64) {
    let conn = Arc::new(std::sync::Mutex::new(raw_conn(path)));
    let started = Instant::now();
    let sql = format!("{RAW_SELECT} WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2");
    let (mut n, mut after) = (0u64, 0i64);
    loop {
        let (conn, sql) = (Arc::clone(&conn), sql.clone());
        let (got, last, bytes) = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().expect("raw connection");
            let mut stmt = conn.prepare_cached(&sql).expect("prepare");
            let mut rows = stmt.query([after, page as i64]).expect("query");
            let (mut got, mut last, mut bytes) = (0u64, after, 0usize);
            while let Some(r) = rows.next().expect("row") {
                last = r.get(0).expect("seq");
                bytes += read_raw_row(r).expect("columns");
                got += 1;
            }
            (got, last, bytes)
        })
        .await
        .expect("blocking read");
        black_box(bytes);
        n += got;
        after = last;
        if got < page as u64 {
            break;
        }
    }
    (n, started.elapsed().as_secs_f64())
}

/// The whole feed through `read_feed` in pages of `page`: events, seconds.
async fn read_all(store: &SqliteStore, page: usize) -> (u64, f64) {
    let filter = FeedFilter::all();
    let started = Instant::now();
    let (mut after, mut n) = (Position::START, 0u64);
    loop {
        let p = store
            .read_feed(after, &filter, page)
            .await
            .expect("read_feed");
        if p.events.is_empty() {
            break;
        }
        n += p.events.len() as u64;
        black_box(&p.events);
        after = p.next;
    }
    (n, started.elapsed().as_secs_f64())
}

/// The in-memory read model: the sum of `amount` and the events of each actor.
#[derive(Default)]
struct Totals {
    events: u64,
    amount: u64,
    per_actor: HashMap<String, u64>,
}

#[async_trait]
impl Projection for Totals {
    async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
        let e = &event.event;
        self.events += 1;
        self.amount += e.data.get("amount").and_then(|v| v.as_u64()).unwrap_or(0);
        match self.per_actor.get_mut(e.actor_id.as_str()) {
            Some(count) => *count += 1,
            None => {
                self.per_actor.insert(e.actor_id.clone(), 1);
            }
        }
        Ok(())
    }
}

/// What the decoded projections take of an event (`FeedDecode`, on the reading thread):
/// the actor, the version and the amount, from the row the store lends.
#[derive(Clone)]
struct Deposit {
    actor: String,
    version: i64,
    amount: i64,
}

impl FeedDecode for Deposit {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        #[derive(serde::Deserialize)]
        struct Data {
            #[serde(default)]
            amount: i64,
        }
        let data: Data = event.data.decode()?;
        Ok(Deposit {
            actor: event.actor_id.to_owned(),
            version: event.version,
            amount: data.amount,
        })
    }
}

/// Runs an at-least-once projection into a fresh [`Totals`] from the start of the feed
/// to its head: (events, seconds) and the model.
async fn in_memory<E: aether_core::FeedItem>(
    store: Arc<SqliteStore>,
    name: String,
    batch: usize,
) -> Result<((u64, f64), Totals), String>
where
    Totals: Projection<E>,
{
    let started = Instant::now();
    let running = projection::spawn::<_, _, E>(
        name,
        Arc::clone(&store),
        AtLeastOnce::new(Totals::default(), store),
        ProjectionOptions::new().batch_size(batch),
    );
    running.wait_for_head().await.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let totals = running.stop().await.into_parts().0;
    Ok(((totals.events, secs), totals))
}

/// The same read model as [`Totals`], fed decoded events.
#[async_trait]
impl Projection<Decoded<Deposit>> for Totals {
    async fn handle(&mut self, event: &Decoded<Deposit>) -> Result<(), HandlerError> {
        let e = &event.event;
        self.events += 1;
        self.amount += e.amount as u64;
        match self.per_actor.get_mut(e.actor.as_str()) {
            Some(count) => *count += 1,
            None => {
                self.per_actor.insert(e.actor.clone(), 1);
            }
        }
        Ok(())
    }
}

/// The exactly-once read model: one row per event in `table`.
struct EventRows {
    insert: String,
}

impl SqliteProjection for EventRows {
    fn handle(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        event: &FeedEvent,
    ) -> Result<(), HandlerError> {
        let e = &event.event;
        let amount = e.data.get("amount").and_then(|v| v.as_i64()).unwrap_or(0);
        tx.prepare_cached(&self.insert)?.execute(rusqlite::params![
            event.position.commit() as i64,
            e.actor_id,
            e.version,
            amount
        ])?;
        Ok(())
    }
}

/// The same rows, from decoded events, the statement prepared once per batch.
impl SqliteProjection<Decoded<Deposit>> for EventRows {
    fn handle(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        event: &Decoded<Deposit>,
    ) -> Result<(), HandlerError> {
        self.handle_batch(tx, std::slice::from_ref(event))
            .map_err(Into::into)
    }

    fn handle_batch(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        events: &[Decoded<Deposit>],
    ) -> Result<(), SinkError> {
        let failed = |position, e: rusqlite::Error| SinkError::Handler {
            position,
            source: e.into(),
        };
        let Some(first) = events.first() else {
            return Ok(());
        };
        let mut insert = tx
            .prepare_cached(&self.insert)
            .map_err(|e| failed(first.position, e))?;
        for event in events {
            let e = &event.event;
            insert
                .execute(rusqlite::params![
                    event.position.commit() as i64,
                    e.actor,
                    e.version,
                    e.amount
                ])
                .map_err(|err| failed(event.position, err))?;
        }
        Ok(())
    }
}

fn catch_up(cfg: &Config) -> Result<Vec<Row>, String> {
    let total = if cfg.quick { 100_000 } else { 1_000_000 };
    let dir = data_dir("projection");
    let path = dir.join("catchup.db");
    let rt = new_rt();
    let t = Instant::now();
    rt.block_on(async {
        let path = path.clone();
        tokio::spawn(async move { seed(&path, total).await })
            .await
            .map_err(|e| e.to_string())?
    })?;
    let seed_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "  seeded {total} events over {ACTORS} actors in {seed_secs:.1} s ({:.0} events/s, \
         batches of {SEED_BATCH}, synchronous = NORMAL)",
        total as f64 / seed_secs
    );
    // The exactly-once models' tables, made before the store is opened again.
    {
        let conn = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
        for b in 0..EO_RUNS.len() {
            conn.execute_batch(&format!(
                "CREATE TABLE model_{b} (seq INTEGER PRIMARY KEY, actor_id TEXT NOT NULL, \
                 version INTEGER NOT NULL, amount INTEGER NOT NULL)"
            ))
            .map_err(|e| e.to_string())?;
        }
    }

    let wl = format!(
        "catch-up: {} stored events, 1,000 actors, SQLite file",
        if cfg.quick { "100,000" } else { "1,000,000" }
    );
    let rate_row = |system: &str, (n, secs): (u64, f64), note: String| {
        assert_eq!(n, total as u64, "{system}: read {n} events of {total}");
        let m = Measured {
            ops: n,
            secs,
            lat: Vec::new(),
        };
        let mut row = Row::new(&wl, system, &m).note(note);
        row.unit = "events/s";
        row
    };
    let mut rows = Vec::new();

    // The reference: best of two scans (the first also warms the OS page cache).
    let a = raw_scan(&path);
    let b = raw_scan(&path);
    let best = if a.1 <= b.1 { a } else { b };
    let raw = rate_row(
        "raw rusqlite: one SELECT over events ⋈ actors",
        best,
        format!(
            "all columns as strings, JSON not parsed; best of 2 ({:.2} s, {:.2} s)",
            a.1, b.1
        ),
    );
    let base = raw.value;
    crate::progress(Some(&raw));
    rows.push(Row {
        ratio: Some((1.0, "ref".into())),
        ..raw
    });
    let paged = rate_row(
        "raw rusqlite: pages of 1,000 (seq > ? LIMIT 1,000)",
        raw_paged(&path, 1_000),
        "one prepared statement re-run per page".into(),
    )
    .vs(base, "raw");
    crate::progress(Some(&paged));
    rows.push(paged);
    let raw_path = path.clone();
    let hop = rt
        .block_on(async move {
            tokio::spawn(async move { raw_paged_blocking(&raw_path, 1_000).await }).await
        })
        .map_err(|e| e.to_string())?;
    let hop = rate_row(
        "raw rusqlite: pages of 1,000, each on a blocking thread",
        hop,
        "as above, each page a spawn_blocking awaited by a task (the store's read path)".into(),
    )
    .vs(base, "raw");
    crate::progress(Some(&hop));
    rows.push(hop);

    let store_path = path.clone();
    let store = rt
        .block_on(async move { SqliteStore::open(&store_path).await })
        .map_err(|e| e.to_string())?;
    let store = Arc::new(store);

    for page in BATCHES {
        let s = Arc::clone(&store);
        let r =
            rt.block_on(async move { tokio::spawn(async move { read_all(&s, page).await }).await });
        let row = rate_row(
            &format!("read_feed, pages of {}", thousands(page)),
            r.map_err(|e| e.to_string())?,
            "events decoded (JSON data, timestamp), one read transaction per page".into(),
        )
        .vs(base, "raw");
        crate::progress(Some(&row));
        rows.push(row);
    }

    for (decoded, batch) in MEM_RUNS {
        let s = Arc::clone(&store);
        let name = format!(
            "bench_mem_{batch}_{}",
            if decoded { "decoded" } else { "owned" }
        );
        let (r, totals) = rt
            .block_on(async move {
                tokio::spawn(async move {
                    if decoded {
                        in_memory::<Decoded<Deposit>>(s, name, batch).await
                    } else {
                        in_memory::<FeedEvent>(s, name, batch).await
                    }
                })
                .await
            })
            .map_err(|e| e.to_string())??;
        assert_eq!(totals.per_actor.len(), ACTORS);
        black_box(totals.amount);
        let row = rate_row(
            &format!(
                "projection at least once → in-memory model, {}, batch {}{}",
                if decoded { "decoded" } else { "owned events" },
                thousands(batch),
                default_mark(batch)
            ),
            r,
            format!(
                "sum + count per actor; checkpoint saved in the store after each batch; {}",
                if decoded {
                    "Decoded<Deposit> (actor, version, amount) made from the lent row"
                } else {
                    "each event a FeedEvent (read_feed)"
                }
            ),
        )
        .vs(base, "raw");
        crate::progress(Some(&row));
        rows.push(row);
    }

    for (i, &(decoded, batch, sync)) in EO_RUNS.iter().enumerate() {
        let s = Arc::clone(&store);
        let table = format!("model_{i}");
        let r = rt
            .block_on(async move {
                tokio::spawn(async move {
                    let sink = s
                        .exactly_once(EventRows {
                            insert: format!(
                                "INSERT INTO {table} (seq, actor_id, version, amount) \
                                 VALUES (?1, ?2, ?3, ?4)"
                            ),
                        })
                        .synchronous(sync);
                    let name = format!("bench_eo_{i}");
                    let options = ProjectionOptions::new().batch_size(batch);
                    let started = Instant::now();
                    let running = if decoded {
                        projection::spawn::<_, _, Decoded<Deposit>>(name, s, sink, options)
                    } else {
                        projection::spawn::<_, _, FeedEvent>(name, s, sink, options)
                    };
                    running.wait_for_head().await.map_err(|e| e.to_string())?;
                    let secs = started.elapsed().as_secs_f64();
                    running.stop().await;
                    Ok::<_, String>(secs)
                })
                .await
            })
            .map_err(|e| e.to_string())??;
        let n: i64 = rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row(&format!("SELECT count(*) FROM model_{i}"), [], |r| r.get(0)))
            .map_err(|e| e.to_string())?;
        let row = rate_row(
            &format!(
                "projection exactly once → SQLite table, {}, batch {}{}, synchronous = {}",
                if decoded { "decoded" } else { "owned events" },
                thousands(batch),
                default_mark(batch),
                format!("{sync:?}").to_uppercase(),
            ),
            (n as u64, r),
            if decoded {
                "one INSERT per event (prepared once per batch: handle_batch) + checkpoint, one \
                 transaction per batch"
            } else {
                "one INSERT per event (prepare_cached per event) + checkpoint, one transaction \
                 per batch"
            }
            .into(),
        )
        .vs(base, "raw");
        crate::progress(Some(&row));
        rows.push(row);
    }
    let _ = rt.block_on(SqliteStore::close_shared(store));
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

// ---------------------------------------------------------------------- live lag

/// Records `now - appended` for each event appended at or after `from_ns`.
struct LagRecorder {
    epoch: Instant,
    from_ns: u64,
    lat: Vec<u64>,
    /// (actor, version, handled at) of the measured events, to compare with the acks.
    handled: Vec<(String, i64, u64)>,
}

#[async_trait]
impl Projection for LagRecorder {
    async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if let Some(t) = event.event.data.get("t").and_then(|v| v.as_u64()) {
            if t >= self.from_ns {
                self.lat.push(now.saturating_sub(t));
                self.handled
                    .push((event.event.actor_id.clone(), event.event.version, now));
            }
        }
        Ok(())
    }
}

struct LagResult {
    /// Append → handler lags of the measured events.
    lag: Measured,
    /// `save_event` latencies of the measured events.
    ack: Measured,
    /// Ack (the append returned) → handler: the feed's own delay.
    delivery: Measured,
}

/// Writers at [`LIVE_RATE`] over [`ACTORS`] actors and a projection recording the lag,
/// on `store` (its own feed and checkpoint store): `warm`, then `measure`.
async fn live_lag<S>(store: Arc<S>, warm: Duration, measure: Duration) -> Result<LagResult, String>
where
    S: EventStore + EventFeed + CheckpointStore,
{
    let epoch = Instant::now();
    let from_ns = warm.as_nanos() as u64;
    let end_ns = (warm + measure).as_nanos() as u64;
    let running = projection::spawn(
        "bench_live_lag",
        Arc::clone(&store),
        AtLeastOnce::new(
            LagRecorder {
                epoch,
                from_ns,
                lat: Vec::with_capacity(LIVE_RATE as usize * 20),
                handled: Vec::with_capacity(LIVE_RATE as usize * 20),
            },
            Arc::clone(&store),
        ),
        ProjectionOptions::new(),
    );
    running.wait_for_head().await.map_err(|e| e.to_string())?;
    let period = Duration::from_secs_f64(ACTORS as f64 / LIVE_RATE);
    let start = tokio::time::Instant::now();
    let writers: Vec<_> = (0..ACTORS)
        .map(|a| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let actor = format!("Account|live-{a}");
                let mut due = start + period.mul_f64(a as f64 / ACTORS as f64);
                let mut acks = Vec::new();
                let mut version = 0i64;
                loop {
                    tokio::time::sleep_until(due).await;
                    let t = epoch.elapsed().as_nanos() as u64;
                    if t >= end_ns {
                        break;
                    }
                    version += 1;
                    let e = event(&actor, a, version, json!({ "amount": 1, "t": t }));
                    store.save_event(&e).await.map_err(|e| e.to_string())?;
                    if t >= from_ns {
                        let acked = epoch.elapsed().as_nanos() as u64;
                        acks.push((version, t, acked));
                    }
                    due += period;
                }
                Ok::<_, String>(acks)
            })
        })
        .collect();
    let mut ack = Measured::default();
    let mut acked_at = std::collections::HashMap::new();
    for (a, w) in writers.into_iter().enumerate() {
        for (version, t, acked) in w.await.map_err(|e| e.to_string())?? {
            ack.lat.push(acked - t);
            acked_at.insert((format!("Account|live-{a}"), version), acked);
        }
    }
    ack.ops = ack.lat.len() as u64;
    ack.secs = measure.as_secs_f64();
    running.wait_for_head().await.map_err(|e| e.to_string())?;
    let sink = running.stop().await;
    let recorder = sink.into_parts().0;
    let lat = recorder.lat;
    // A handler may see an event before its writer's task has noted the ack: 0 then.
    let delivered: Vec<u64> = recorder
        .handled
        .into_iter()
        .filter_map(|(actor, version, at)| {
            acked_at
                .get(&(actor, version))
                .map(|acked| at.saturating_sub(*acked))
        })
        .collect();
    let delivery = Measured {
        ops: delivered.len() as u64,
        secs: measure.as_secs_f64(),
        lat: delivered,
    };
    let lag = Measured {
        ops: lat.len() as u64,
        secs: measure.as_secs_f64(),
        lat,
    };
    Ok(LagResult {
        lag: lag.finish(),
        ack: ack.finish(),
        delivery: delivery.finish(),
    })
}

fn lag_row(wl: &str, system: &str, r: &LagResult, extra: &str) -> Row {
    let max = r.lag.lat.last().map(|&ns| Duration::from_nanos(ns));
    let mut row = Row::new(wl, system, &r.lag).note(format!(
        "max {}; save_event ack p50 {} / p99 {}; ack → handler p50 {} / p99 {}{extra}",
        crate::stats::fmt_dur(max),
        crate::stats::fmt_dur(r.ack.pct(0.5)),
        crate::stats::fmt_dur(r.ack.pct(0.99)),
        crate::stats::fmt_dur(r.delivery.pct(0.5)),
        crate::stats::fmt_dur(r.delivery.pct(0.99)),
    ));
    row.unit = "events/s";
    if r.ack.ops != r.lag.ops {
        row.note = format!(
            "{}; {} appended but {} handled",
            row.note, r.ack.ops, r.lag.ops
        );
    }
    row
}

fn live(cfg: &Config) -> Vec<Row> {
    let (warm, measure) = if cfg.quick {
        (Duration::from_millis(500), Duration::from_secs(2))
    } else {
        (Duration::from_secs(1), Duration::from_secs(5))
    };
    let wl = format!(
        "live lag append → handler, 1,000 actors, 2,000 events/s paced, {:.0} s measured",
        measure.as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        crate::progress(Some(&row));
        rows.push(row);
    };

    // In memory: the reference.
    let r = new_rt().block_on(async move {
        tokio::spawn(live_lag(Arc::new(InMemoryStore::new()), warm, measure))
            .await
            .map_err(|e| e.to_string())?
    });
    match r {
        Ok(r) => push(lag_row(&wl, "InMemoryStore (reference)", &r, "")),
        Err(e) => crate::skipped_part("projection", format!("in-memory live lag: {e}")),
    }

    // SQLite, default options (FULL).
    let dir = data_dir("projection-live");
    let path = dir.join("live.db");
    let r = new_rt().block_on(async move {
        tokio::spawn(async move {
            let store = Arc::new(SqliteStore::open(&path).await.map_err(|e| e.to_string())?);
            let r = live_lag(Arc::clone(&store), warm, measure).await;
            let _ = SqliteStore::close_shared(store).await;
            r
        })
        .await
        .map_err(|e| e.to_string())?
    });
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(r) => push(lag_row(
            &wl,
            "SqliteStore (FULL)",
            &r,
            "; checkpoint saved through the store's writer",
        )),
        Err(e) => crate::skipped_part("projection", format!("SQLite live lag: {e}")),
    }

    // PostgreSQL: a fresh schema, dropped after.
    let url = pg_url();
    let schema = format!("bench_proj_{}", unique_suffix());
    let rt = new_rt();
    let r = rt.block_on({
        let (url, schema) = (url.clone(), schema.clone());
        async move {
            tokio::spawn(async move {
                let store = aether_postgres::PostgresStore::builder(url.clone())
                    .schema(schema)
                    .application_name("aether_bench")
                    .connect_timeout(Duration::from_secs(3))
                    .connect()
                    .await
                    .map_err(|e| format!("PostgreSQL at {url} unavailable: {e}"))?;
                live_lag(Arc::new(store), warm, measure).await
            })
            .await
            .map_err(|e| e.to_string())?
        }
    });
    let connected = !matches!(&r, Err(e) if e.contains("unavailable"));
    if connected {
        let _ = rt.block_on(async {
            pg_client(&url)
                .await?
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
                .map_err(|e| e.to_string())
        });
    }
    drop(rt);
    match r {
        Ok(r) => push(lag_row(&wl, "PostgresStore", &r, "")),
        Err(e) => crate::skipped_part("projection", format!("PostgreSQL live lag: {e}")),
    }

    // NATS JetStream: a fresh namespace, deleted after.
    let url = nats_url();
    let r = new_rt().block_on(async move {
        tokio::spawn(async move {
            let store = aether_nats::NatsStore::builder(&url)
                .namespace(format!("bench-proj-{}", unique_suffix().replace('_', "-")))
                .connect_timeout(Duration::from_secs(3))
                .connect()
                .await
                .map_err(|e| format!("NATS at {url} unavailable: {e}"))?;
            let store = Arc::new(store);
            let r = live_lag(Arc::clone(&store), warm, measure).await;
            let _ = store.delete_namespace().await;
            r
        })
        .await
        .map_err(|e| e.to_string())?
    });
    match r {
        Ok(r) => push(lag_row(&wl, "NatsStore", &r, "")),
        Err(e) => crate::skipped_part("projection", format!("NATS live lag: {e}")),
    }
    rows
}
