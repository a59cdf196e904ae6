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

    /// The server could not be reached (connection refused, DNS failure, TLS or
    /// authentication failure).
    #[error(
        "cannot connect to NATS at {url}: {source}; check that nats-server is running and \
         reachable from here, and the url and credentials"
    )]
    Unreachable {
        /// The URL (or URLs) dialled.
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
        /// The URL (or URLs) dialled.
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

/// A plain-text error, for backend failures that have no error value of their own.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Message(pub(crate) String);
