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

    /// The TLS connection could not be set up: the server does not offer TLS although the
    /// [`SslMode`](crate::SslMode) requires it, or its certificate does not verify (not
    /// signed by a trusted CA, not made out to the host name, expired).
    #[error("tls to postgres at {target} failed: {reason}")]
    Tls {
        /// Where the store tried to connect (host and port, without credentials).
        target: String,
        /// What failed and what to do, in words.
        reason: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The server refused the user: a wrong password (SQLSTATE 28P01), or no
    /// `pg_hba.conf` line lets this user in from here with this encryption (28000), for
    /// instance a TLS-only user on an unencrypted connection.
    #[error(
        "postgres at {target} refused the login: {source}; check the user and password \
         (or client certificate), and that pg_hba.conf lets this user connect from here \
         with this sslmode"
    )]
    Authentication {
        /// Where the store tried to connect (host and port, without credentials).
        target: String,
        /// The server's error, with its SQLSTATE.
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

impl ConnectError {
    /// The error for a failed first connection: [`Tls`](ConnectError::Tls) when the TLS
    /// handshake failed, [`Authentication`](ConnectError::Authentication) when the server
    /// refused the login, else [`Unreachable`](ConnectError::Unreachable).
    pub(crate) fn from_connect(target: String, host: &str, err: PostgresError) -> Self {
        if let Some(reason) = tls_reason(&err, host) {
            return ConnectError::Tls {
                target,
                reason,
                source: Arc::new(err),
            };
        }
        let auth = err.code().is_some_and(|code| {
            *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        });
        if auth {
            return ConnectError::Authentication {
                target,
                source: Arc::new(err),
            };
        }
        ConnectError::unreachable(target, err)
    }
}

/// What went wrong in a failed TLS handshake, and what to do; `None` if it was not one.
fn tls_reason(err: &PostgresError, host: &str) -> Option<String> {
    let driver = err.driver_error()?;
    let mut cause: Option<&(dyn StdError + 'static)> = driver.source();
    while let Some(current) = cause {
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn StdError + 'static));
        let rustls = inner
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .or_else(|| current.downcast_ref::<rustls::Error>());
        if let Some(rustls) = rustls {
            return Some(describe_rustls(rustls, host));
        }
        cause = current.source();
    }
    let text = err.to_string();
    if text.contains("server does not support TLS") {
        return Some(
            "the server does not offer TLS but the sslmode requires it; enable ssl on \
             the server, or use sslmode=prefer or disable"
                .to_owned(),
        );
    }
    if text.contains("error performing TLS handshake") {
        return Some(format!(
            "{text}; check the server's TLS setup and the sslmode"
        ));
    }
    None
}

fn describe_rustls(err: &rustls::Error, host: &str) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "the server's certificate is not signed by a trusted CA; give the CA that signed \
             it (sslrootcert=/path/ca.pem or tls_ca_file)"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            format!(
                "the server's certificate is not valid for the host name {host:?}; connect by \
                 a name the certificate carries, or use sslmode=verify-ca to skip the name \
                 check"
            )
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired; renew it on the server".to_owned()
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("the server's certificate is not accepted ({other:?}); check it and the CA")
        }
        other => format!("{other}; check the server's TLS setup and the sslmode"),
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
