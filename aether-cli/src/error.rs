//! [`CliError`]: everything that stops a command, each shown as one line.

use aether::feed::FeedError;
use aether::{ConnectUrlError, StoreError};

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// No `--store` and no `AETHER_STORE`.
    #[error("no store: give --store URL or set AETHER_STORE (e.g. sqlite://events.db)")]
    NoStore,
    /// The store could not be opened (the URL is redacted).
    #[error(transparent)]
    Connect(#[from] ConnectUrlError),
    /// A read-only command on a SQLite file that does not exist (it would be created).
    #[error("no such sqlite store: {0} does not exist (only import creates a store)")]
    NoSuchFile(String),
    /// An SQLite database that is not an aether store.
    #[error("{path} is not an aether store: {reason}")]
    NotAether {
        /// The file.
        path: String,
        /// What gives it away.
        reason: String,
    },
    /// Reading the feed failed.
    #[error("{0}")]
    Feed(#[from] FeedError),
    /// A store call failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Reading stdin or writing stdout failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line of the import is not an event.
    #[error("line {line} is not an aether event: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// Encoding JSON output failed.
    #[error("cannot encode json: {0}")]
    Json(#[from] serde_json::Error),
}
