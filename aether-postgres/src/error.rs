//! Errors of building a [`PostgresStore`](crate::PostgresStore).
//!
//! Once a store is built, its operations fail with [`aether_core::StoreError`], like every
//! store's. Building one can fail before any actor is involved, so it has its own error,
//! [`ConnectError`].

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Why [`PostgresStoreBuilder::connect`](crate::PostgresStoreBuilder::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection URL (or another setting) is not valid. Nothing was contacted.
    #[error("invalid postgres store configuration: {reason}")]
    Config {
        /// What is wrong, in words.
        reason: String,
    },

    /// The server could not be reached, refused the connection or the credentials, or did
    /// not answer within the connect timeout.
    #[error("cannot connect to postgres at {target}: {source}")]
    Unreachable {
        /// Where the store tried to connect (host and port, without credentials).
        target: String,
        /// The driver's or the pool's error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },

    /// The server was reached, but creating or migrating the schema failed.
    #[error("cannot create or migrate schema {schema:?}: {source}")]
    Schema {
        /// The schema the store was configured with.
        schema: String,
        /// The server's error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },

    /// The schema was written by a newer version of aether-postgres, whose layout this
    /// version does not know. Nothing was changed.
    #[error(
        "schema {schema:?} has layout version {found}, newer than the {supported} this \
         aether-postgres supports: upgrade aether-postgres"
    )]
    NewerSchema {
        /// The schema the store was configured with.
        schema: String,
        /// The layout version found in the schema.
        found: i32,
        /// The newest layout version this crate knows.
        supported: i32,
    },
}

/// An operation that did not finish within the store's operation timeout.
#[derive(Debug)]
pub(crate) struct TimedOut(pub(crate) Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the operation did not finish within {:?} (a write may or may not have taken effect)",
            self.0
        )
    }
}

impl StdError for TimedOut {}

/// The background writers of a store are gone (its runtime shut down).
#[derive(Debug)]
pub(crate) struct WriterGone;

impl fmt::Display for WriterGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the store's background writers have stopped (was the tokio runtime that built \
             the store shut down?); the write may or may not have taken effect",
        )
    }
}

impl StdError for WriterGone {}
