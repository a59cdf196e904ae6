//! Why [`connect`](super::connect()) failed ([`ConnectUrlError`]), with every URL and
//! store error in it redacted.

use std::fmt;
use std::sync::Arc;

use aether_core::BoxError;

use super::redact::{mask, redact_url, secrets_of};
use super::StoreKind;

/// Why [`connect`](super::connect()) failed. Every URL in it is redacted ([`redact_url`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectUrlError {
    /// The URL's scheme names no store aether knows.
    #[error(
        "unknown store url scheme {scheme:?}: expected memory:, sqlite://PATH, \
         postgres://USER@HOST/DB or nats://HOST:PORT"
    )]
    UnknownScheme {
        /// The scheme given (the URL's text before the first `:`).
        scheme: String,
    },
    /// The scheme names a store whose feature is not compiled in.
    #[error(
        "{scheme}: urls need the aether feature {feature:?}, which this build does not \
         have; enable it (aether = {{ features = [\"{feature}\"] }})"
    )]
    FeatureDisabled {
        /// The scheme given.
        scheme: String,
        /// The cargo feature of `aether` that brings the store in.
        feature: &'static str,
    },
    /// The URL cannot be read: no scheme, an empty path, an unknown or empty aether
    /// query parameter.
    #[error("malformed store url {url}: {reason}")]
    Malformed {
        /// The URL, redacted.
        url: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// The store failed to open or connect (unreachable server, a file that is not an
    /// aether store, ...): its own error is the source.
    #[error("cannot open the {kind} store at {url}: {source}")]
    Store {
        /// Which store.
        kind: StoreKind,
        /// The URL, redacted.
        url: String,
        /// The store's own error (`aether_sqlite::OpenError`, `aether_postgres::ConnectError`,
        /// `aether_nats::ConnectError`), or its text with the password masked if it
        /// contained the password.
        source: BoxError,
    },
}

pub(super) fn malformed(url: &str, reason: impl Into<String>) -> ConnectUrlError {
    ConnectUrlError::Malformed {
        url: redact_url(url),
        reason: reason.into(),
    }
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
pub(super) fn store_error<E>(kind: StoreKind, url: &str, error: E) -> ConnectUrlError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let secrets = secrets_of(url);
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    let source: BoxError = if secrets.iter().any(|s| text.contains(s.as_str())) {
        Arc::new(Masked(mask(text, &secrets)))
    } else {
        Arc::new(error)
    };
    ConnectUrlError::Store {
        kind,
        url: redact_url(url),
        source,
    }
}

/// A store error whose text held a password, with the password masked.
#[derive(Debug)]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
struct Masked(String);

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Masked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_holding_the_password_is_masked() {
        let err = store_error(
            StoreKind::Nats,
            "nats://user:hunter2@127.0.0.1:1",
            std::io::Error::other("cannot connect to nats://user:hunter2@127.0.0.1:1"),
        );
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("nats://user:***@127.0.0.1:1"), "{text}");
    }
}
