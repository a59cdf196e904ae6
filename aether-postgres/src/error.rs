//! Errors of building a [`PostgresStore`](crate::PostgresStore), and the driver errors
//! inside the store's errors.
//!
//! Once a store is built, its operations fail with [`aether_core::StoreError`], like every
//! store's. Building one can fail before any actor is involved, so it has its own error,
//! [`ConnectError`]. Where either comes from the driver or the pool, its source is a
//! [`PostgresError`], whose message carries the server's reason and SQLSTATE.
//!
//! Like the other stores' setup errors (`aether_sqlite::OpenError`,
//! `aether_nats::ConnectError`), [`ConnectError`] is a `#[non_exhaustive]` enum, `Clone`,
//! whose backend sources are [`BoxError`]s, and whose messages say what to do.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use aether_core::BoxError;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Why [`PostgresStoreBuilder::connect`](crate::PostgresStoreBuilder::connect) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection URL (or another setting) is not valid. Nothing was contacted.
    #[error("invalid postgres store configuration: {reason}; fix the url or the builder setting")]
    Config {
        /// What is wrong, in words.
        reason: String,
    },

    /// The server could not be reached, refused the connection or the credentials, or did
    /// not answer within the connect timeout.
    #[error(
        "cannot connect to postgres at {target}: {source}; check that the server is running \
         and reachable from here, and the url's user, password and database"
    )]
    Unreachable {
        /// Where the store tried to connect (host and port, without credentials).
        target: String,
        /// The driver's or the pool's error.
        #[source]
        source: BoxError,
    },

    /// The server was reached, but creating or migrating the schema failed.
    #[error(
        "cannot create or migrate schema {schema:?}: {source}; check that the user may \
         create schemas and tables in the database"
    )]
    Schema {
        /// The schema the store was configured with.
        schema: String,
        /// The server's error.
        #[source]
        source: BoxError,
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
        found: i64,
        /// The newest layout version this crate knows,
        /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
        supported: i64,
    },
}

impl ConnectError {
    pub(crate) fn unreachable(
        target: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        ConnectError::Unreachable {
            target: target.into(),
            source: Arc::new(source),
        }
    }
}

/// No connection could be opened within the connect timeout.
#[derive(Debug, thiserror::Error)]
#[error("no connection within {0:?}")]
pub(crate) struct NoConnection(pub(crate) Duration);

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

/// An error of the PostgreSQL driver or of the connection pool, with a message that says
/// what happened.
///
/// The driver's own message for a server error is only `db error`; this one carries the
/// server's severity, message and SQLSTATE code (and its detail and hint, if any), for
/// instance `FATAL: terminating connection due to administrator command (SQLSTATE
/// 57P01)`, and for other driver errors their cause (`error connecting to server:
/// Connection refused (os error 111)`). Its [`source`](StdError::source) is the
/// original error: a [`tokio_postgres::Error`] or a [`deadpool_postgres::PoolError`].
///
/// The store puts it as the source of [`StoreError::Backend`](aether_core::StoreError)
/// and of [`ConnectError`]s. To act on the SQLSTATE, downcast the source:
///
/// ```
/// use aether_core::StoreError;
/// use aether_postgres::PostgresError;
/// use aether_postgres::driver::SqlState;
///
/// fn is_admin_shutdown(err: &StoreError) -> bool {
///     match err {
///         StoreError::Backend { source, .. } => source
///             .downcast_ref::<PostgresError>()
///             .and_then(PostgresError::code)
///             .is_some_and(|code| *code == SqlState::ADMIN_SHUTDOWN),
///         _ => false,
///     }
/// }
///
/// assert!(!is_admin_shutdown(&StoreError::invalid_input("account-1", 1, "bad input")));
/// ```
#[derive(Debug)]
pub struct PostgresError {
    message: String,
    origin: Origin,
}

#[derive(Debug)]
enum Origin {
    Driver(tokio_postgres::Error),
    Pool(PoolError),
}

impl PostgresError {
    /// The driver's error: the one this error wraps, or the one the pool got when it
    /// opened a connection. `None` for pool errors of its own (a timeout, a closed pool).
    pub fn driver_error(&self) -> Option<&tokio_postgres::Error> {
        match &self.origin {
            Origin::Driver(err) | Origin::Pool(PoolError::Backend(err)) => Some(err),
            Origin::Pool(_) => None,
        }
    }

    /// The server's SQLSTATE code, when the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.driver_error().and_then(tokio_postgres::Error::code)
    }
}

impl From<tokio_postgres::Error> for PostgresError {
    fn from(err: tokio_postgres::Error) -> Self {
        let mut message = String::new();
        describe_driver_error(&mut message, &err);
        PostgresError {
            message,
            origin: Origin::Driver(err),
        }
    }
}

impl From<PoolError> for PostgresError {
    fn from(err: PoolError) -> Self {
        let message = match &err {
            PoolError::Backend(driver) => {
                let mut message = "cannot open a connection: ".to_owned();
                describe_driver_error(&mut message, driver);
                message
            }
            other => other.to_string(),
        };
        PostgresError {
            message,
            origin: Origin::Pool(err),
        }
    }
}

/// Writes what the driver's `Display` leaves to the error's sources.
fn describe_driver_error(out: &mut String, err: &tokio_postgres::Error) {
    if let Some(db) = err.as_db_error() {
        let _ = write!(
            out,
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            let _ = write!(out, "; detail: {detail}");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(out, "; hint: {hint}");
        }
        return;
    }
    let _ = write!(out, "{err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.origin {
            Origin::Driver(err) => Some(err),
            Origin::Pool(err) => Some(err),
        }
    }
}
