//! The TLS parameters of a connection string (`sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`), in URL or libpq key/value form, taken out of the rest for tokio-postgres.

use super::{RootCert, TlsSettings};

impl TlsSettings {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::SslMode;

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
}
