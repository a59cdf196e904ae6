//! TLS to PostgreSQL: [`SslMode`], the libpq TLS parameters of a connection string
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`), and the rustls configuration they make.
//!
//! tokio-postgres parses only `sslmode=disable|prefer|require` itself, and refuses the
//! other parameters, so the store takes them out of the string before handing the rest
//! to the driver ([`split_params`]) and builds the verifier itself ([`connector`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

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

    fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "sslmode" => self.mode = Some(value.parse().map_err(|e| format!("{e}"))?),
            "sslrootcert" if value == "system" => self.root_cert = Some(RootCert::System),
            "sslrootcert" => self.root_cert = Some(RootCert::File(value.into())),
            "sslcert" => self.client_cert = Some(value.into()),
            "sslkey" => self.client_key = Some(value.into()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Takes the TLS parameters out of a connection string (URL or key/value form): the rest,
/// for tokio-postgres, and the parameters.
///
/// Errors name the parameter, never a value other than an invalid `sslmode`.
pub(crate) fn split_params(conninfo: &str) -> Result<(String, TlsSettings), String> {
    let mut tls = TlsSettings::default();
    let lower = conninfo.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let Some((base, query)) = conninfo.split_once('?') else {
            return Ok((conninfo.to_owned(), tls));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !tls.take(&percent_decode(key)?, &percent_decode(value)?)? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, tls));
    }
    let mut kept = Vec::new();
    for param in key_values(conninfo)? {
        if !tls.take(param.key, &param.value)? {
            kept.push(param.text);
        }
    }
    Ok((kept.join(" "), tls))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("invalid percent-encoding in a url parameter")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a url parameter is not UTF-8 once decoded".to_owned())
}

/// One `key = value` of a libpq key/value string.
pub(crate) struct KeyValue<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: String,
    /// The parameter as written, to hand on unchanged.
    pub(crate) text: &'a str,
}

/// Splits a libpq key/value string: `key = value`, values optionally in single quotes,
/// with `\'` and `\\` escapes.
pub(crate) fn key_values(s: &str) -> Result<Vec<KeyValue<'_>>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= bytes.len() {
            return Ok(out);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        i = skip_ws(i);
        if bytes.get(i) != Some(&b'=') {
            return Err(format!(
                "missing \"=\" after {key:?} in the connection string"
            ));
        }
        i = skip_ws(i + 1);
        let mut value = Vec::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(format!("unterminated quoted value of {key:?}")),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        out.push(KeyValue {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            text: &s[start..i],
        });
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

/// The TLS connector for these settings.
///
/// Errors say which file could not be used and why.
pub(crate) fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let mode = settings.effective_mode();
    let verify_chain =
        matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) || settings.root_cert.is_some();
    let builder = if mode == SslMode::Disable || !verify_chain {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let roots = Arc::new(root_store(settings.root_cert.as_ref())?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| format!("cannot set up TLS verification: {e}"))?;
        if mode == SslMode::VerifyFull {
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
        }
    };
    let config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert, "client certificate file (sslcert)")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "cannot read a private key from the client key file (sslkey) {}: {e}",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(
                "a client certificate needs both a certificate file (sslcert) and a key \
                 file (sslkey)"
                    .to_owned(),
            )
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let read_error = |e: rustls::pki_types::pem::Error| {
        format!("cannot read the {what} {}: {e}", path.display())
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

fn root_store(root: Option<&RootCert>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        Some(RootCert::File(path)) => {
            for cert in read_certs(path, "CA file (sslrootcert)")? {
                store.add(cert).map_err(|e| {
                    format!(
                        "the CA file (sslrootcert) {} is unusable: {e}",
                        path.display()
                    )
                })?;
            }
        }
        Some(RootCert::System) | None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no trusted root certificates found on this system; give a CA file \
                     (sslrootcert=/path or tls_ca_file)"
                        .to_owned(),
                );
            }
        }
    }
    Ok(store)
}

/// Accepts any certificate (modes `prefer` and `require` without a CA): the connection
/// is encrypted, the server not authenticated. Handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must verify; the host name is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only once the chain is verified, so a name error means
        // the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_are_taken_out_and_the_rest_kept() {
        let (rest, tls) = split_params(
            "postgres://app:pw@db.example/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://app:pw@db.example/app?application_name=x");
        assert_eq!(tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(tls.root_cert, Some(RootCert::File("/etc/ca.pem".into())));
        let (rest, tls) = split_params("postgresql://h/db?sslmode=verify-ca").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(tls.effective_mode(), SslMode::VerifyCa);
    }

    #[test]
    fn key_value_params_are_taken_out_and_the_rest_kept() {
        let (rest, tls) = split_params(
            "host=h user=app password='a b\\'c' sslmode = require sslcert=/c.pem sslkey='/k.pem'",
        )
        .unwrap();
        assert_eq!(rest, "host=h user=app password='a b\\'c'");
        assert_eq!(tls.mode, Some(SslMode::Require));
        assert_eq!(tls.client_cert, Some("/c.pem".into()));
        assert_eq!(tls.client_key, Some("/k.pem".into()));
    }

    #[test]
    fn defaults_and_bad_values() {
        let (_, tls) = split_params("postgres://h/db").unwrap();
        assert_eq!(tls.effective_mode(), SslMode::Prefer);
        let (_, tls) = split_params("postgres://h/db?sslrootcert=system").unwrap();
        assert_eq!(tls.effective_mode(), SslMode::VerifyFull);
        let err = split_params("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(err.contains("unknown sslmode \"allow\""), "{err}");
        assert!(split_params("host=h sslmode").is_err());
    }

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
