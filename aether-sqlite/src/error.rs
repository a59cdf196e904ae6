//! The setup errors of the store: [`OpenError`], why a store file could not be opened,
//! and [`CloseError`], why it could not be closed. Errors of the store's operations are
//! [`StoreError`](aether_core::StoreError)s, like every store's.
//!
//! Like the other stores' setup errors (`aether_postgres::ConnectError`,
//! `aether_nats::ConnectError`), [`OpenError`] is a `#[non_exhaustive]` enum, `Clone`,
//! whose backend sources are [`BoxError`]s, and whose messages say what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aether_core::BoxError;

use crate::SqliteStore;

/// Opening a [`SqliteStore`](crate::SqliteStore) failed.
///
/// Errors of operations on an open store are [`aether_core::StoreError`]s; this type is
/// only for [`SqliteStore::open`](crate::SqliteStore::open) and
/// [`SqliteStoreBuilder::open`](crate::SqliteStoreBuilder::open).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SQLite refused to open or set up the file (missing directory, permissions, not a
    /// database, locked by another process for longer than the busy timeout, ...).
    #[error(
        "cannot open sqlite store {}: {source}; check that the directory exists and is \
         writable, and that no other program holds the file locked",
        path.display()
    )]
    Sqlite {
        /// The file being opened.
        path: PathBuf,
        /// SQLite's error.
        source: BoxError,
    },

    /// The file was written by a newer version of aether-sqlite, with a schema this
    /// version does not know. Nothing was changed; upgrade aether-sqlite to open it.
    #[error(
        "sqlite store {} has schema version {found}, newer than this aether-sqlite understands \
         (up to {supported}); upgrade aether-sqlite to open it",
        path.display()
    )]
    NewerSchema {
        /// The file being opened.
        path: PathBuf,
        /// The file's schema version (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this crate understands.
        supported: i64,
    },

    /// The file is an SQLite database, but not one of aether's.
    #[error(
        "sqlite store {} is not an aether store: {reason}; give aether a path of its own \
         (it creates the file)",
        path.display()
    )]
    NotAnAetherStore {
        /// The file being opened.
        path: PathBuf,
        /// What gives it away.
        reason: String,
    },

    /// SQLite would not put the file in WAL journal mode (for example an in-memory
    /// database, or a file system without shared memory support).
    #[error(
        "sqlite store {} cannot use WAL journal mode (it stays in {mode:?} mode); put the \
         file on a local file system (not in memory, not on a network share)",
        path.display()
    )]
    NotWal {
        /// The file being opened.
        path: PathBuf,
        /// The journal mode SQLite reports.
        mode: String,
    },
}

impl OpenError {
    pub(crate) fn sqlite(
        path: &Path,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        OpenError::Sqlite {
            path: path.to_owned(),
            source: Arc::new(source),
        }
    }
}

/// Closing a [`SqliteStore`] failed ([`SqliteStore::close`],
/// [`SqliteStore::close_shared`]).
///
/// Closing concerns the whole file, not one actor, so unlike
/// [`StoreError`](aether_core::StoreError) it names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// Other handles to the store are still alive, so it was not closed: actor tasks of a
    /// runtime that is not shut down yet, or clones of the `Arc`. Drop them (await
    /// `Runtime::shutdown`, drop the clones), then close the store given back here.
    #[error(
        "cannot close sqlite store {}: {others} other handle(s) to it are still alive \
         (actor tasks of a runtime not yet shut down, or clones of its Arc); drop them \
         (await Runtime::shutdown) and close again",
        path.display()
    )]
    StillShared {
        /// The store's file.
        path: PathBuf,
        /// How many other handles hold the store.
        others: usize,
        /// The store, still open.
        store: Arc<SqliteStore>,
    },

    /// The writer (or checkpoint) thread had panicked before the store was closed:
    /// appends that were not acknowledged may not be stored; acknowledged ones are. The
    /// file is closed.
    #[error(
        "sqlite store {}: the writer thread had panicked; unacknowledged appends may be lost, \
         acknowledged ones are stored",
        path.display()
    )]
    ThreadPanicked {
        /// The store's file.
        path: PathBuf,
    },
}
