//! Credentials for NATS: how a store authenticates ([`Auth`]), taking them out of server
//! URLs (`nats://user:pass@host`, `nats://token@host`), and [`redact_url`].
//!
//! The store hands async-nats URLs without credentials and passes them as options
//! instead: async-nats logs the server address it dials (at `debug`), which would
//! otherwise carry the password.

use std::fmt;
use std::path::PathBuf;

/// How the store authenticates, set on the builder or read from the URL.
#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
    NKey(String),
    CredentialsFile(PathBuf),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword { user, .. } => {
                write!(f, "UserPassword {{ user: {user:?}, password: *** }}")
            }
            Auth::Token(_) => f.write_str("Token(***)"),
            Auth::NKey(_) => f.write_str("NKey(***)"),
            Auth::CredentialsFile(path) => write!(f, "CredentialsFile({path:?})"),
        }
    }
}

impl Auth {
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Auth::None)
    }
}

/// The servers of a comma-separated URL list, each without credentials, and the
/// credentials of the first server that had some.
///
/// # Errors
///
/// Two servers with different credentials; a percent-encoding that is not UTF-8.
pub(crate) fn split_credentials(urls: &str) -> Result<(Vec<String>, Auth), String> {
    let mut servers = Vec::new();
    let mut found: Option<(Auth, String)> = None;
    for server in urls.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (rest, userinfo) = split_userinfo(server);
        servers.push(rest);
        let Some(userinfo) = userinfo else { continue };
        let auth = match userinfo.split_once(':') {
            Some((user, password)) => Auth::UserPassword {
                user: percent_decode(user)?,
                password: percent_decode(password)?,
            },
            None => Auth::Token(percent_decode(userinfo)?),
        };
        match &found {
            None => found = Some((auth, userinfo.to_owned())),
            Some((_, first)) if first == userinfo => {}
            Some(_) => {
                return Err(
                    "the server urls carry different credentials; give one set, on the \
                     builder or in every url"
                        .to_owned(),
                )
            }
        }
    }
    Ok((servers, found.map(|(auth, _)| auth).unwrap_or_default()))
}

/// `(url without userinfo, userinfo)`.
fn split_userinfo(server: &str) -> (String, Option<&str>) {
    let start = server.find("://").map_or(0, |i| i + 3);
    let end = server[start..]
        .find(['/', '?', '#'])
        .map_or(server.len(), |i| start + i);
    match server[start..end].rfind('@') {
        Some(at) => {
            let userinfo = &server[start..start + at];
            let rest = format!("{}{}", &server[..start], &server[start + at + 1..]);
            (rest, Some(userinfo))
        }
        None => (server.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the url's credentials are not UTF-8".to_owned())
}

/// The server URL (or comma-separated list) with credentials masked: a password as
/// `user:***`, a token as `***`. The store shows URLs only in this form, in `Debug`,
/// errors and logs.
///
/// ```
/// use aether_nats::redact_url;
///
/// assert_eq!(redact_url("nats://app:s3cret@127.0.0.1:4222"), "nats://app:***@127.0.0.1:4222");
/// assert_eq!(redact_url("tls://t0ken@a:4222, nats://b:4222"), "tls://***@a:4222,nats://b:4222");
/// ```
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|server| {
            let (rest, userinfo) = split_userinfo(server);
            let Some(userinfo) = userinfo else {
                return rest;
            };
            let masked = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            let start = rest.find("://").map_or(0, |i| i + 3);
            format!("{}{masked}@{}", &rest[..start], &rest[start..])
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_urls() {
        let (servers, auth) =
            split_credentials("nats://app:p%40ss@a:4222,nats://app:p%40ss@b:4222").unwrap();
        assert_eq!(servers, ["nats://a:4222", "nats://b:4222"]);
        let Auth::UserPassword { user, password } = auth else {
            panic!("{auth:?}")
        };
        assert_eq!((user.as_str(), password.as_str()), ("app", "p@ss"));
        let (servers, auth) = split_credentials("tls://tok@a:4222/x").unwrap();
        assert_eq!(servers, ["tls://a:4222/x"]);
        assert!(matches!(auth, Auth::Token(t) if t == "tok"));
        let (servers, auth) = split_credentials("127.0.0.1:4222").unwrap();
        assert_eq!(servers, ["127.0.0.1:4222"]);
        assert!(auth.is_none());
        assert!(split_credentials("nats://a:1@h,nats://b:2@h").is_err());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("nats://a:p@h:1"), "nats://a:***@h:1");
        assert_eq!(redact_url("h:1"), "h:1");
        assert_eq!(redact_url("nats://tok@h"), "nats://***@h");
        assert_eq!(
            format!(
                "{:?}",
                Auth::UserPassword {
                    user: "a".into(),
                    password: "p".into()
                }
            ),
            "UserPassword { user: \"a\", password: *** }"
        );
    }
}
