//! [`ConnectError`]: what can go wrong outside the store traits (connecting, setting up
//! and deleting a namespace). Failures of the store operations themselves are
//! [`StoreError`](aether_core::StoreError)s, like every store's.
//!
//! Like the other stores' setup errors (`aether_sqlite::OpenError`,
//! `aether_postgres::ConnectError`), [`ConnectError`] is a `#[non_exhaustive]` enum,
//! `Clone`, whose backend sources are [`BoxError`]s, and whose messages say what to do.

use std::time::Duration;

use aether_core::BoxError;

/// Connecting to NATS, or creating or deleting a namespace's stream and bucket, failed
/// ([`NatsStoreBuilder::connect`](crate::NatsStoreBuilder::connect),
/// [`NatsStore::delete_namespace`](crate::NatsStore::delete_namespace),
/// [`Layout::new`](crate::Layout::new)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The namespace cannot name a stream, a subject token and a bucket.
    #[error("invalid namespace {namespace:?}: {reason}; choose another namespace")]
    InvalidNamespace {
        /// The namespace given.
        namespace: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The credentials cannot be used: a `.creds` file that cannot be read or parsed, or
    /// server URLs that carry different credentials. Nothing was contacted.
    #[error("invalid NATS credentials: {reason}; fix the credentials or the urls")]
    Credentials {
        /// What is wrong, in words (never the secret itself).
        reason: String,
    },

    /// The server's certificate does not verify: not signed by a trusted CA, not made
    /// out to the host name in the URL, or expired.
    #[error("tls to NATS at {url} failed: {reason}")]
    Tls {
        /// The URL (or URLs) dialled, credentials masked.
        url: String,
        /// What failed and what to do, in words.
        reason: String,
        /// The client's error.
        source: BoxError,
    },

    /// The server refused the credentials (`authorization violation`): a wrong user,
    /// password, token or NKey, or none given to a server that requires one.
    #[error(
        "NATS at {url} refused the login: {source}; check the user and password, token, \
         NKey seed or credentials file"
    )]
    Authentication {
        /// The URL (or URLs) dialled, credentials masked.
        url: String,
        /// The client's error.
        source: BoxError,
    },

    /// The server could not be reached (connection refused, DNS failure), or the
    /// connection failed otherwise, for instance TLS required by the server but not set
    /// up here. The source is async-nats's `ConnectError`; its `kind()` says more.
    #[error(
        "cannot connect to NATS at {url}: {source}; check that nats-server is running and \
         reachable from here, the url (tls:// if the server requires TLS), the CA file and \
         the credentials"
    )]
    Unreachable {
        /// The URL (or URLs) dialled, credentials masked.
        url: String,
        /// The client's error.
        source: BoxError,
    },

    /// Connecting and setting up the namespace did not finish within the connect timeout.
    #[error(
        "connecting to NATS at {url} did not finish within {after:?}; check that the server \
         is reachable from here, or raise the connect timeout"
    )]
    Timeout {
        /// The URL (or URLs) dialled, credentials masked.
        url: String,
        /// The connect timeout that elapsed.
        after: Duration,
    },

    /// A JetStream request failed: JetStream is not enabled on the server, an existing
    /// stream or bucket of the namespace has an incompatible configuration, or the server
    /// answered with an error.
    #[error(
        "jetstream: cannot {action}: {source}; check that JetStream is enabled on the server \
         (nats-server -js) and that the namespace's stream and bucket were made by aether"
    )]
    JetStream {
        /// What was being done, such as `create stream "aether_orders_events"`.
        action: String,
        /// The client's or server's error.
        source: BoxError,
    },
}

impl ConnectError {
    pub(crate) fn jetstream(
        action: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ConnectError::JetStream {
            action: action.into(),
            source: std::sync::Arc::new(source),
        }
    }
}

impl ConnectError {
    /// The error for a failed dial: [`Tls`](ConnectError::Tls) when the server's
    /// certificate did not verify, [`Authentication`](ConnectError::Authentication) when
    /// the server refused the login, else [`Unreachable`](ConnectError::Unreachable).
    pub(crate) fn from_dial(url: String, err: async_nats::ConnectError) -> Self {
        if err.kind() == async_nats::ConnectErrorKind::AuthorizationViolation {
            return ConnectError::Authentication {
                url,
                source: std::sync::Arc::new(err),
            };
        }
        if let Some(reason) = tls_reason(&err, &url) {
            return ConnectError::Tls {
                url,
                reason,
                source: std::sync::Arc::new(err),
            };
        }
        ConnectError::Unreachable {
            url,
            source: std::sync::Arc::new(err),
        }
    }
}

/// The rustls error in a dial error's sources, in words with what to do.
fn tls_reason(err: &async_nats::ConnectError, url: &str) -> Option<String> {
    use std::error::Error as _;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut found = None;
    while let Some(current) = cause {
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn std::error::Error + 'static));
        found = inner
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .or_else(|| current.downcast_ref::<rustls::Error>());
        if found.is_some() {
            break;
        }
        cause = current.source();
    }
    use rustls::CertificateError as C;
    Some(match found? {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "the server's certificate is not signed by a trusted CA; give the CA that signed \
             it (tls_ca_file)"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate is not valid for the host name in {url}; connect by a \
             name the certificate carries"
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired; renew it on the server".to_owned()
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("the server's certificate is not accepted ({other:?}); check it and the CA")
        }
        other => format!("{other}; check the server's TLS setup"),
    })
}

/// A plain-text error, for backend failures that have no error value of their own.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Message(pub(crate) String);
