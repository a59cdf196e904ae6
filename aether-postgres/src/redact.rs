//! [`redact_url`]: a connection string fit for logs, errors and metrics labels.

use crate::tls::key_values;

/// The connection string with its password replaced by `***`, in URL form
/// (`postgres://app:***@db/app`, and a `password=` query parameter) and in key/value form
/// (`password=***`). Everything else is kept, so the result still says where it points.
///
/// The store never logs or reports a connection string as given; use this to show one of
/// yours.
///
/// ```
/// use aether_postgres::redact_url;
///
/// assert_eq!(redact_url("postgres://app:s3cret@db/app"), "postgres://app:***@db/app");
/// assert_eq!(redact_url("host=db user=app password='s 3'"), "host=db user=app password=***");
/// assert_eq!(redact_url("postgres://db/app?password=s3cret&sslmode=require"),
///            "postgres://db/app?password=***&sslmode=require");
/// ```
pub fn redact_url(url: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if let Some(scheme_end) = url.find("://") {
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return "<unrecognised connection string>".to_owned();
        }
        let after = scheme_end + 3;
        let (main, query) = match url.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (url, None),
        };
        let authority_end = main[after..].find('/').map_or(main.len(), |i| after + i);
        let authority = &main[after..authority_end];
        let mut out = url[..after].to_owned();
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        out.push_str(&main[authority_end..]);
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        return out;
    }
    match key_values(url) {
        Ok(params) => params
            .iter()
            .map(|p| {
                if p.key == "password" {
                    "password=***".to_owned()
                } else {
                    p.text.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<unparsable connection string>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_replaced_wherever_they_are() {
        for (url, want) in [
            ("postgres://a:p@h:5432/d", "postgres://a:***@h:5432/d"),
            ("postgresql://a:p%40x@h", "postgresql://a:***@h"),
            ("postgres://a@h/d", "postgres://a@h/d"),
            (
                "postgres://h/d?user=a&password=p",
                "postgres://h/d?user=a&password=***",
            ),
            ("postgres://a:p@h/d?x=@y", "postgres://a:***@h/d?x=@y"),
            ("user=a password=p host=h", "user=a password=*** host=h"),
            ("password = 'p q' host=h", "password=*** host=h"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
            assert!(!redact_url(url).contains("p@"), "{url}");
        }
        assert_eq!(
            redact_url("mysql://a:p@h"),
            "<unrecognised connection string>"
        );
        assert_eq!(redact_url("password='p"), "<unparsable connection string>");
    }
}
