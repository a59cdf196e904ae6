//! [`SqliteStoreBuilder`]: the options of a [`SqliteStore`] and opening it (connections,
//! schema, the writer and checkpoint threads); [`Synchronous`], its durability level.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::checkpoint::Checkpoints;
use crate::feed::{self, FeedSignal};
use crate::reader::ReadPool;
use crate::writer::{Counters, Writer};
use crate::{schema, OpenError, SqliteStore};

/// How hard SQLite works to put a commit on stable storage before an append is
/// acknowledged: SQLite's `PRAGMA synchronous`, in WAL mode.
///
/// | level | process crash (kill -9, panic, OOM) | OS crash or power loss |
/// |---|---|---|
/// | [`Full`](Synchronous::Full) (default) | acknowledged appends kept | acknowledged appends kept |
/// | [`Extra`](Synchronous::Extra) | kept | kept |
/// | [`Normal`](Synchronous::Normal) | kept | the last acknowledged appends may be lost (the file stays consistent) |
///
/// "Kept" on power loss assumes the disk honours `fsync`, as SQLite itself does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `synchronous = NORMAL`: each commit is written to the WAL file before it is
    /// acknowledged, but the WAL is only `fsync`ed at checkpoints. Survives a process
    /// crash; an OS crash or power loss may roll back the most recent commits (never
    /// half of one: batches stay atomic and the file stays consistent).
    Normal,
    /// `synchronous = FULL`: the WAL is `fsync`ed at every commit, before any append of
    /// that commit is acknowledged. Survives process crash, OS crash and power loss.
    #[default]
    Full,
    /// `synchronous = EXTRA`: like [`Full`](Synchronous::Full); in WAL mode SQLite adds
    /// no further sync for commits. Offered for completeness.
    Extra,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// Options for opening a [`SqliteStore`]; made by [`SqliteStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use aether_sqlite::{SqliteStore, Synchronous};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("events.db");
/// let store = SqliteStore::builder(&path)
///     .synchronous(Synchronous::Normal)
///     .read_connections(8)
///     .busy_timeout(Duration::from_secs(10))
///     .open()
///     .await?;
/// assert_eq!(store.synchronous(), Synchronous::Normal);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    pub(crate) path: PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) read_connections: usize,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_group_events: usize,
    pub(crate) wal_autocheckpoint: u32,
    pub(crate) feed_poll_interval: Duration,
}

impl SqliteStoreBuilder {
    pub(crate) fn new(path: &Path) -> Self {
        SqliteStoreBuilder {
            path: path.to_owned(),
            synchronous: Synchronous::default(),
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            max_group_events: 16_384,
            wal_autocheckpoint: 4_000,
            feed_poll_interval: feed::DEFAULT_POLL_INTERVAL,
        }
    }

    /// The durability level of commits (default [`Synchronous::Full`]: an acknowledged
    /// append survives power loss).
    pub fn synchronous(mut self, level: Synchronous) -> Self {
        self.synchronous = level;
        self
    }

    /// How many read connections reads share (default 4, at least 1). Reads never wait
    /// for the writer, only for a free read connection.
    pub fn read_connections(mut self, n: usize) -> Self {
        self.read_connections = n.max(1);
        self
    }

    /// How long a connection waits for a lock held by another process before failing
    /// with [`StoreError::Backend`](aether_core::StoreError::Backend) (default 5 s).
    /// Inside one process the store never waits on itself.
    ///
    /// The writer spends this budget per transaction polling for the file's write lock
    /// every 20–50 µs, and shares the lock in turns with the other process, so that two
    /// processes writing one file both make progress (see the crate docs,
    /// "Concurrency"); an append fails with `database is locked` only once the whole
    /// budget has passed without a turn.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The most events one group commit (one transaction) takes from the queue
    /// (default 16,384, at least 1). A single larger batch is still committed whole.
    pub fn max_group_events(mut self, n: usize) -> Self {
        self.max_group_events = n.max(1);
        self
    }

    /// WAL size, in pages, past which the WAL is checkpointed into the main file (default
    /// 4,000 pages of 4 KiB; 0 turns automatic checkpoints off).
    ///
    /// Unlike SQLite's own `wal_autocheckpoint`, the checkpoint runs on a thread of its
    /// own, beside the writer, so appends are not acknowledged late because of it. Only
    /// if the WAL reaches 4 times this size (a checkpoint thread that cannot keep up)
    /// does the writer checkpoint between two commits itself. Larger values checkpoint
    /// less often, with a larger `-wal` file.
    pub fn wal_autocheckpoint(mut self, pages: u32) -> Self {
        self.wal_autocheckpoint = pages;
        self
    }

    /// How long a reader waiting for new events of the feed
    /// ([`EventFeed::wait_for_events`](aether_core::EventFeed::wait_for_events), and so
    /// `aether_core::follow` and projections) waits at most before it reads again
    /// (default 100 ms, at least 1 ms).
    ///
    /// Appends of this store wake waiting readers at once; this interval is how soon
    /// they see the appends of *other processes* (or other stores) writing the same
    /// file, and what an idle reader costs: one small read per interval.
    pub fn feed_poll_interval(mut self, interval: Duration) -> Self {
        self.feed_poll_interval = interval.max(feed::MIN_POLL_INTERVAL);
        self
    }

    /// Opens (creating if needed) the store file with these options.
    ///
    /// # Errors
    ///
    /// [`OpenError`] if the file cannot be opened or set up, is not an aether store, or
    /// has a newer schema than this version of the crate understands.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn open(self) -> Result<SqliteStore, OpenError> {
        let options = self;
        let path = options.path.clone();
        let opened =
            tokio::task::spawn_blocking(move || open_connections(&options).map(|c| (c, options)))
                .await
                .map_err(|join| {
                    OpenError::sqlite(&path, std::io::Error::other(join.to_string()))
                })?;
        let ((writer_conn, checkpoint_conn, read_conns, max_seq), options) = opened?;
        let feed = FeedSignal::new(max_seq);
        let counters = Arc::new(Counters::default());
        let (requests, rx) = mpsc::channel(options.max_group_events.max(1024));
        let spawn_failed = |e| OpenError::sqlite(&options.path, e);
        let (checkpoints, checkpointer) = Checkpoints::start(
            &writer_conn,
            checkpoint_conn,
            options.wal_autocheckpoint,
            Arc::clone(&counters),
        )
        .map_err(spawn_failed)?
        .unzip();
        let writer = Writer::new(
            writer_conn,
            Arc::clone(&counters),
            options.max_group_events,
            checkpoints,
            options.busy_timeout,
            feed.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("aether-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(spawn_failed)?;
        let threads = std::iter::once(handle).chain(checkpointer).collect();
        tracing::debug!(path = %options.path.display(), "opened aether sqlite store");
        Ok(SqliteStore {
            path: options.path,
            synchronous: options.synchronous,
            requests,
            reads: Arc::new(ReadPool::new(read_conns)),
            counters,
            threads: Mutex::new(threads),
            feed,
            feed_poll_interval: options.feed_poll_interval,
            busy_timeout: options.busy_timeout,
            wal_autocheckpoint: options.wal_autocheckpoint,
        })
    }
}

/// The writer's connection, the checkpoint thread's, the readers', and the file's highest
/// `events.seq` once its schema is ensured.
type Connections = (Connection, Connection, Vec<Connection>, u64);

fn open_connections(options: &SqliteStoreBuilder) -> Result<Connections, OpenError> {
    let path = options.path.as_path();
    let sqlite = |e| OpenError::sqlite(path, e);
    #[cfg(unix)]
    private_file(path).map_err(|e| OpenError::sqlite(path, e))?;
    let mut writer = Connection::open(path).map_err(sqlite)?;
    writer.busy_timeout(options.busy_timeout).map_err(sqlite)?;
    let mode: String = writer
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    writer
        .execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;",
            options.synchronous.pragma_value(),
        ))
        .map_err(sqlite)?;
    writer.set_prepared_statement_cache_capacity(32);
    schema::ensure(&mut writer, path)?;
    let max_seq = feed::max_seq(&writer).map_err(sqlite)?;
    let checkpointer = Connection::open(path).map_err(sqlite)?;
    checkpointer
        .busy_timeout(options.busy_timeout)
        .map_err(sqlite)?;
    checkpointer
        .execute_batch(&format!(
            "PRAGMA synchronous = {};",
            options.synchronous.pragma_value()
        ))
        .map_err(sqlite)?;
    let mut readers = Vec::with_capacity(options.read_connections);
    for _ in 0..options.read_connections {
        let reader = Connection::open(path).map_err(sqlite)?;
        reader.busy_timeout(options.busy_timeout).map_err(sqlite)?;
        reader
            .execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -8192;")
            .map_err(sqlite)?;
        readers.push(reader);
    }
    Ok((writer, checkpointer, readers, max_seq))
}

/// Creates the store file readable and writable by its owner only (0600), so that SQLite,
/// which gives the `-wal` and `-shm` files the mode of the database file, makes those
/// private too. An existing file is left as it is, with a `warn!` when users other than
/// its owner may write it.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

    let name = path.as_os_str().to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.mode();
            if mode & 0o022 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the store file is writable by other users than its owner; \
                     `chmod 600` it unless that is meant"
                );
            }
            Ok(())
        }
        Err(err) => Err(err),
    }
}
