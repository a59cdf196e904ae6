//! Passwords and tokens kept out of messages: [`redact_url`] for URLs, and the secrets
//! of a URL to mask in a store's error text.

use super::parse::percent_decode;

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
pub(super) fn mask(mut text: String, secrets: &[String]) -> String {
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

const MASK: &str = "***";

/// The URL with its secrets masked, for messages and logs: the password of
/// `user:password@`, a NATS token (`nats://token@host`), and the value of a `password=`
/// query parameter each become `***`. Text that is not a URL comes back unchanged.
///
/// ```
/// use aether::redact_url;
///
/// assert_eq!(redact_url("postgres://app:s3cret@db:5432/app?schema=a"), "postgres://app:***@db:5432/app?schema=a");
/// assert_eq!(redact_url("postgres://app@db/app?password=s3cret"), "postgres://app@db/app?password=***");
/// assert_eq!(redact_url("nats://t0ken@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
/// assert_eq!(redact_url("sqlite://events.db"), "sqlite://events.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            None if is_nats(scheme) => format!("{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_password_key(key) => format!("{key}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn is_nats(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("nats")
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("token")
}

/// The secrets in `url` (as written and percent-decoded), to mask in store errors.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
pub(super) fn secrets_of(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let Some((scheme, rest)) = url.split_once("://") else {
        return secrets;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        match userinfo.split_once(':') {
            Some((_, password)) => secrets.push(password.to_owned()),
            None if is_nats(scheme) => secrets.push(userinfo.to_owned()),
            None => {}
        }
    }
    if let Some((_, query)) = tail.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if is_password_key(key) {
                    secrets.push(value.to_owned());
                }
            }
        }
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_passwords_tokens_and_password_parameters() {
        assert_eq!(
            redact_url("postgres://app:secret@host/db"),
            "postgres://app:***@host/db"
        );
        assert_eq!(
            redact_url("postgresql://app:p@ss:w@rd@host:5432/db?schema=x&sslmode=disable"),
            "postgresql://app:***@host:5432/db?schema=x&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app@host/db?password=secret&schema=a"),
            "postgres://app@host/db?password=***&schema=a"
        );
        assert_eq!(redact_url("nats://tok@host:4222"), "nats://***@host:4222");
        assert_eq!(
            redact_url("nats://u:pw@host:4222?namespace=n"),
            "nats://u:***@host:4222?namespace=n"
        );
        assert_eq!(
            redact_url("postgres://app@host/db"),
            "postgres://app@host/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/a@b.db"), "sqlite:///tmp/a@b.db");
        assert_eq!(redact_url("memory:"), "memory:");
    }

    #[test]
    fn secrets_are_found_as_written_and_decoded() {
        let secrets = secrets_of("postgres://app:p%40ss@host/db?password=two");
        assert!(secrets.contains(&"p%40ss".to_owned()));
        assert!(secrets.contains(&"p@ss".to_owned()));
        assert!(secrets.contains(&"two".to_owned()));
        assert_eq!(
            mask("bad password p@ss for app".into(), &secrets),
            "bad password *** for app"
        );
        assert!(secrets_of("postgres://app@host/db").is_empty());
    }
}
