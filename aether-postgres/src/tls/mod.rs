//! TLS to PostgreSQL: [`SslMode`], the libpq TLS parameters of a connection string
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`), and the rustls configuration they make.
//!
//! tokio-postgres parses only `sslmode=disable|prefer|require` itself, and refuses the
//! other parameters, so the store takes them out of the string before handing the rest
//! to the driver ([`split_params`]) and builds the verifier itself ([`connector`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

mod config;
mod params;

pub(crate) use config::connector;
pub(crate) use params::{key_values, split_params};

/// Whether and how a [`PostgresStore`](crate::PostgresStore) uses TLS: libpq's `sslmode`,
/// with the same names and meanings.
///
/// | mode | encrypted | server certificate checked |
/// |---|---|---|
/// | [`Disable`](SslMode::Disable) | never | no |
/// | [`Prefer`](SslMode::Prefer) (default) | if the server offers TLS | only if a CA is given |
/// | [`Require`](SslMode::Require) | always | only if a CA is given |
/// | [`VerifyCa`](SslMode::VerifyCa) | always | signed by a trusted CA |
/// | [`VerifyFull`](SslMode::VerifyFull) | always | signed by a trusted CA and made out to the host name connected to |
///
/// "A CA is given" means a CA file (`sslrootcert=/path` or
/// [`tls_ca_file`](crate::PostgresStoreBuilder::tls_ca_file)) or `sslrootcert=system`;
/// then `prefer` and `require` verify the chain as `verify-ca` does, as libpq does. The
/// trusted CAs are the CA file's certificates, or else the system's roots. Only
/// `verify-full` protects against a machine in the middle that has any certificate of a
/// trusted CA; use it, with a CA file of your own, across networks you do not control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, else an unencrypted connection (libpq's default).
    #[default]
    Prefer,
    /// TLS or fail; the certificate is checked only when a CA is given.
    Require,
    /// TLS or fail; the server's certificate must be signed by a trusted CA.
    VerifyCa,
    /// TLS or fail; the server's certificate must be signed by a trusted CA and valid for
    /// the host name in the connection string.
    VerifyFull,
}

impl SslMode {
    /// The libpq name: `"disable"`, `"prefer"`, `"require"`, `"verify-ca"` or
    /// `"verify-full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of libpq's `sslmode` values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown sslmode {0:?}; use disable, prefer, require, verify-ca or verify-full \
     (allow is not supported)"
)]
pub struct UnknownSslMode(String);

impl FromStr for SslMode {
    type Err = UnknownSslMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(UnknownSslMode(other.to_owned())),
        })
    }
}

/// Which CAs are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// The certificates of a PEM file.
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`).
    System,
}

/// The TLS settings of a connection string or a builder; unset fields fall back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: Option<SslMode>,
    pub(crate) root_cert: Option<RootCert>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsSettings {
    /// `self` (the builder's) where set, else `url`'s.
    pub(crate) fn over(&self, url: TlsSettings) -> TlsSettings {
        TlsSettings {
            mode: self.mode.or(url.mode),
            root_cert: self.root_cert.clone().or(url.root_cert),
            client_cert: self.client_cert.clone().or(url.client_cert),
            client_key: self.client_key.clone().or(url.client_key),
        }
    }

    /// The mode in force: set, or `verify-full` with `sslrootcert=system` (as libpq 16),
    /// or `prefer`.
    pub(crate) fn effective_mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (Some(mode), _) => mode,
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }
}

/// The driver's `sslmode` for ours (the verification is the connector's business).
pub(crate) fn driver_mode(mode: SslMode) -> tokio_postgres::config::SslMode {
    match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_settings_win_over_the_url() {
        let builder = TlsSettings {
            mode: Some(SslMode::Disable),
            ..TlsSettings::default()
        };
        let url = TlsSettings {
            mode: Some(SslMode::VerifyFull),
            root_cert: Some(RootCert::System),
            ..TlsSettings::default()
        };
        let merged = builder.over(url);
        assert_eq!(merged.mode, Some(SslMode::Disable));
        assert_eq!(merged.root_cert, Some(RootCert::System));
    }
}
