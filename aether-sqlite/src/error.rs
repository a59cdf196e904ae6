//! [`OpenError`]: why a store file could not be opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aether_core::BoxError;

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
    #[error("cannot open sqlite store {}: {source}", path.display())]
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
    #[error("sqlite store {} is not an aether store: {reason}", path.display())]
    NotAnAetherStore {
        /// The file being opened.
        path: PathBuf,
        /// What gives it away.
        reason: String,
    },

    /// SQLite would not put the file in WAL journal mode (for example an in-memory
    /// database, or a file system without shared memory support).
    #[error("sqlite store {} cannot use WAL journal mode (it stays in {mode:?} mode)", path.display())]
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
