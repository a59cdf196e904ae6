//! The credentials and TLS settings of a [`NatsStoreBuilder`]: its setters
//! ([`user_and_password`](NatsStoreBuilder::user_and_password),
//! [`token`](NatsStoreBuilder::token), [`nkey`](NatsStoreBuilder::nkey),
//! [`credentials_file`](NatsStoreBuilder::credentials_file),
//! [`tls_ca_file`](NatsStoreBuilder::tls_ca_file),
//! [`tls_client_cert`](NatsStoreBuilder::tls_client_cert),
//! [`require_tls`](NatsStoreBuilder::require_tls)), and how they become async-nats
//! connect options.

use std::path::PathBuf;

use async_nats::ConnectOptions;

use super::NatsStoreBuilder;
use crate::auth::Auth;
use crate::error::ConnectError;

/// How a builder authenticates and secures its connection. `Debug` (through [`Auth`])
/// never shows a password, token or seed.
#[derive(Clone, Debug, Default)]
pub(super) struct Security {
    pub(super) auth: Auth,
    pub(super) tls_ca_file: Option<PathBuf>,
    pub(super) tls_client_cert: Option<(PathBuf, PathBuf)>,
    pub(super) require_tls: bool,
}

impl Security {
    /// `options` with these credentials (else `url_auth`, those found in the URL) and TLS
    /// settings.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Credentials`] for a `.creds` file that cannot be read.
    pub(super) async fn apply(
        &self,
        options: ConnectOptions,
        url_auth: Auth,
    ) -> Result<ConnectOptions, ConnectError> {
        let auth = if self.auth.is_none() {
            url_auth
        } else {
            self.auth.clone()
        };
        let mut options = match auth {
            Auth::None => options,
            Auth::UserPassword { user, password } => options.user_and_password(user, password),
            Auth::Token(token) => options.token(token),
            Auth::NKey(seed) => options.nkey(seed),
            Auth::CredentialsFile(path) => {
                options
                    .credentials_file(&path)
                    .await
                    .map_err(|err| ConnectError::Credentials {
                        reason: format!(
                            "cannot use the credentials file {}: {err}",
                            path.display()
                        ),
                    })?
            }
        };
        if let Some(ca) = &self.tls_ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls_client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options.require_tls(self.require_tls))
    }
}

impl NatsStoreBuilder {
    /// Log in with a user name and password (a `users` entry, or `authorization { user,
    /// password }`, of the server's configuration). Replaces credentials in the URL.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.security.auth = Auth::UserPassword {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// Log in with a token (`authorization { token }` of the server). Replaces
    /// credentials in the URL.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.security.auth = Auth::Token(token.into());
        self
    }

    /// Log in as an NKey user: `seed` is the user's seed (`SU...`); the server knows its
    /// public key (`U...`). The seed never leaves this process: it signs the server's
    /// nonce. Replaces credentials in the URL.
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.security.auth = Auth::NKey(seed.into());
        self
    }

    /// Log in with a `.creds` file (a user JWT and its NKey seed, as `nsc` writes them),
    /// for servers in operator (JWT) mode. The file is read on
    /// [`connect`](Self::connect). Replaces credentials in the URL.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Trust the CA certificates in this PEM file to sign the server's certificate (in
    /// addition to the system's roots), and require TLS.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security.tls_ca_file = Some(path.into());
        self.security.require_tls = true;
        self
    }

    /// Present a client certificate (PEM certificate and key files), for servers whose
    /// `tls { verify: true }` asks for one; requires TLS.
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.security.tls_client_cert = Some((cert.into(), key.into()));
        self.security.require_tls = true;
        self
    }

    /// Require TLS even with a `nats://` URL (a `tls://` URL always requires it): a
    /// server that does not offer TLS is then refused (default `false`: TLS when the
    /// server asks for it).
    pub fn require_tls(mut self, required: bool) -> Self {
        self.security.require_tls = required;
        self
    }
}
