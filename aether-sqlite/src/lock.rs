//! Sharing the file's write lock with other processes, fairly.
//!
//! SQLite lets one connection write at a time: `BEGIN IMMEDIATE` takes the file's write
//! lock (in WAL mode, a lock byte of the `-shm` file), `COMMIT` releases it. Such locks
//! do not queue: a connection that finds the lock taken can only try again later.
//! SQLite's default busy handler (what `busy_timeout` installs) tries again after 1, 2,
//! 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms..., while a busy writer of another process
//! commits every few hundred microseconds and takes the lock back at once. So the
//! waiting process almost never finds it free. Measured with two processes on one file
//! (20 shared actors, 20 clients each, `tests/sqlite_two_processes_fairness.rs`): one
//! acknowledged up to 20,000 asks a second while the other acknowledged none for five
//! seconds, then failed with `database is locked` once its busy timeout had passed.
//!
//! The writer connection therefore does three things instead:
//!
//! - **It polls often** while it waits: its own busy handler sleeps 20–50 µs between
//!   attempts (jittered, so two waiters do not move in step), for at most the store's
//!   [`busy_timeout`](crate::SqliteStoreBuilder::busy_timeout) per `BEGIN` or `COMMIT`;
//!   `BEGIN` itself is tried again within that budget if SQLite still reports
//!   `SQLITE_BUSY`. A busy file is an error only once that whole budget is spent.
//! - **It notices another writer**: its `BEGIN` had to wait, or `PRAGMA data_version`
//!   shows that another connection committed since this one last did.
//! - **It takes turns** then, for [`CONTENDED_FOR`] after the last sign of the other
//!   writer: once it has held the lock for a [`TURN`] of back-to-back group commits, it
//!   leaves the lock free for 100–200 µs after its commit, long enough for the other
//!   process's poll to find it free, and waits for its own next turn. The other process
//!   does the same. Appends queue meanwhile and go into the next, larger, group.
//!
//! A process alone on its file never waits and never sees another writer, so it never
//! pauses: its only cost is one `PRAGMA data_version` per group commit.
//!
//! The connection of an exactly-once projection sink (`crate::projection`) writes the
//! same file beside the writer, so it has a [`WriteLock`] of its own and does the same:
//! to the store's writer it is one more writer to take turns with, as another process
//! would be.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode};

use crate::writer::Counters;

/// Sleep between two attempts at a taken lock: at least this...
const POLL_MIN: Duration = Duration::from_micros(20);
/// ...and at most this (with the timer's slack, 100 µs or so in practice).
const POLL_MAX: Duration = Duration::from_micros(50);
/// After seeing another process write the file, the writer shares the lock for this
/// long...
const CONTENDED_FOR: Duration = Duration::from_secs(1);
/// ...in turns of this length: past it, the writer leaves the lock free after its commit...
const TURN: Duration = Duration::from_millis(5);
/// ...for at least this...
const PAUSE_MIN: Duration = Duration::from_micros(100);
/// ...and at most this.
const PAUSE_MAX: Duration = Duration::from_micros(200);

thread_local! {
    /// Until when the current `BEGIN` / `COMMIT` may keep polling (set around them).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// When the current wait began (for statements outside `BEGIN` / `COMMIT`).
    static WAIT_STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The busy budget of this thread's writer connection.
    static BUDGET: Cell<Duration> = const { Cell::new(Duration::from_secs(5)) };
    /// Whether the busy handler ran since it was last cleared.
    static WAITED: Cell<bool> = const { Cell::new(false) };
    /// Jitter state (xorshift).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The writer connection's side of the write lock. Lives on the writer thread: the
/// busy handler keeps its state in thread-locals of that thread.
#[derive(Debug)]
pub(crate) struct WriteLock {
    budget: Duration,
    counters: Arc<Counters>,
    /// Another writer was seen recently: take turns until then.
    contended_until: Option<Instant>,
    /// When this connection last released the lock.
    released_at: Option<Instant>,
    /// `PRAGMA data_version` in this connection's last transaction: it changes when
    /// another connection commits.
    data_version: Option<i64>,
    /// When this connection's current turn with the lock began.
    turn_started: Option<Instant>,
}

impl WriteLock {
    /// The lock handling of a writer connection whose waits may last `budget` each.
    pub(crate) fn new(budget: Duration, counters: Arc<Counters>) -> Self {
        WriteLock {
            budget,
            counters,
            contended_until: None,
            released_at: None,
            data_version: None,
            turn_started: None,
        }
    }

    /// The counters the lock's waits go to.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Installs the polling busy handler on `conn`, the writer connection, and prepares
    /// the calling thread for it ([`enter`](WriteLock::enter)). A connection used from
    /// several threads in turn (the projection sink's, from tokio's blocking threads)
    /// calls `enter` on each before using it.
    pub(crate) fn install(&self, conn: &Connection) {
        self.enter();
        if let Err(e) = conn.busy_handler(Some(poll_for_lock)) {
            // The connection keeps SQLite's own busy timeout: slower to get the lock
            // from a busy neighbour, but correct.
            tracing::warn!(error = %e, "aether sqlite: cannot install the writer's busy handler");
        }
    }

    /// Sets the calling thread's busy budget and jitter seed for this connection.
    pub(crate) fn enter(&self) {
        BUDGET.with(|b| b.set(self.budget));
        RNG.with(|r| {
            if r.get() == 0 {
                r.set(seed());
            }
        });
    }

    /// `BEGIN IMMEDIATE`, waiting up to the busy budget for another process's lock;
    /// under contention, at the end of this connection's turn, after a short pause.
    pub(crate) fn begin(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.begin_with(conn, || conn.execute_batch("BEGIN IMMEDIATE"))
    }

    /// [`begin`](WriteLock::begin) with `start` running the `BEGIN IMMEDIATE` (for a
    /// caller that wants a `rusqlite::Transaction` of it).
    pub(crate) fn begin_with<T>(
        &mut self,
        conn: &Connection,
        mut start: impl FnMut() -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let paused = self.pause_if_contended();
        WAITED.with(|w| w.set(false));
        let result = self.with_deadline(|deadline| loop {
            match start() {
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    WAITED.with(|w| w.set(true));
                    std::thread::sleep(jitter(POLL_MIN, POLL_MAX));
                }
                other => break other,
            }
        });
        let started = result?;
        let waited = WAITED.with(Cell::get);
        if waited {
            self.counters.lock_waits.fetch_add(1, Ordering::Relaxed);
        }
        // Another connection committed since this one last held the lock: another
        // process writes the file, and may be waiting for the lock right now.
        let version = data_version(conn).ok();
        let foreign = matches!((self.data_version, version), (Some(a), Some(b)) if a != b);
        self.data_version = version;
        let now = Instant::now();
        if waited || foreign {
            self.contended_until = Some(now + CONTENDED_FOR);
        }
        if waited || foreign || paused {
            // A new turn: the lock came from the other process, or was offered to it.
            self.turn_started = Some(now);
        }
        Ok(started)
    }

    /// `COMMIT`, retried within the busy budget while SQLite reports the database busy
    /// (the transaction stays open then). On error the caller rolls back.
    pub(crate) fn commit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let result = self.with_deadline(|deadline| loop {
            match conn.execute_batch("COMMIT") {
                Err(e) if is_busy(&e) && Instant::now() < deadline && !conn.is_autocommit() => {
                    std::thread::sleep(jitter(POLL_MIN, POLL_MAX));
                }
                other => break other,
            }
        });
        self.released();
        result
    }

    /// Records that the lock was released (a commit or a rollback).
    pub(crate) fn released(&mut self) {
        self.released_at = Some(Instant::now());
    }

    fn with_deadline<T>(&self, f: impl FnOnce(Instant) -> T) -> T {
        let deadline = Instant::now() + self.budget;
        DEADLINE.with(|d| d.set(Some(deadline)));
        let out = f(deadline);
        DEADLINE.with(|d| d.set(None));
        out
    }

    /// Under contention, at the end of this connection's turn, leaves the lock free for a
    /// moment after its last release, so that a process polling for it gets its turn.
    /// Whether it paused.
    fn pause_if_contended(&mut self) -> bool {
        let Some(until) = self.contended_until else {
            return false;
        };
        let now = Instant::now();
        if now >= until {
            self.contended_until = None;
            return false;
        }
        if self
            .turn_started
            .is_some_and(|started| now.duration_since(started) < TURN)
        {
            return false;
        }
        if let Some(released) = self.released_at {
            let pause = jitter(PAUSE_MIN, PAUSE_MAX);
            let since = now.duration_since(released);
            if since < pause {
                self.counters.lock_yields.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause - since);
                return true;
            }
        }
        false
    }
}

/// The writer connection's busy handler: poll every 20–50 µs until the deadline of the
/// current `BEGIN` / `COMMIT` (or the busy budget from the first attempt).
fn poll_for_lock(attempts: i32) -> bool {
    let now = Instant::now();
    WAITED.with(|w| w.set(true));
    let deadline = DEADLINE.with(Cell::get).unwrap_or_else(|| {
        let started = if attempts == 0 {
            WAIT_STARTED.with(|s| s.set(Some(now)));
            now
        } else {
            WAIT_STARTED.with(Cell::get).unwrap_or(now)
        };
        started + BUDGET.with(Cell::get)
    });
    if now >= deadline {
        return false;
    }
    std::thread::sleep(jitter(POLL_MIN, POLL_MAX).min(deadline - now));
    true
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

/// A duration in `min..=max`, from the thread's xorshift generator.
fn jitter(min: Duration, max: Duration) -> Duration {
    let x = RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = seed();
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    });
    let span = (max - min).as_nanos() as u64 + 1;
    min + Duration::from_nanos(x % span)
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}
