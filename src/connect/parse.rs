//! Reading a store URL, before anything is opened: its scheme, the feature it needs, and
//! aether's own query parameters (`schema`, `namespace`).

use super::error::malformed;
use super::ConnectUrlError;

/// The URL schemes [`connect`](super::connect()) knows, each with the feature it needs.
pub const SCHEMES: &[(&str, Option<&str>)] = &[
    ("memory", None),
    ("sqlite", Some("sqlite")),
    ("postgres", Some("postgres")),
    ("postgresql", Some("postgres")),
    ("nats", Some("nats")),
];

/// What a URL says, before anything is opened.
#[derive(Debug, PartialEq)]
pub(super) enum Parsed {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite {
        path: String,
    },
    #[cfg(feature = "postgres")]
    Postgres {
        url: String,
        schema: Option<String>,
    },
    #[cfg(feature = "nats")]
    Nats {
        url: String,
        namespace: Option<String>,
    },
}

pub(super) fn parse(url: &str) -> Result<Parsed, ConnectUrlError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(malformed(
            url,
            "no scheme: write memory:, sqlite://PATH, postgres://... or nats://...",
        ));
    };
    let scheme_lower = scheme.to_ascii_lowercase();
    let feature = match SCHEMES.iter().find(|(s, _)| *s == scheme_lower) {
        Some((_, feature)) => *feature,
        None => {
            return Err(ConnectUrlError::UnknownScheme {
                scheme: scheme.to_owned(),
            })
        }
    };
    let enabled = match feature {
        None => true,
        Some("sqlite") => cfg!(feature = "sqlite"),
        Some("postgres") => cfg!(feature = "postgres"),
        Some("nats") => cfg!(feature = "nats"),
        Some(_) => false,
    };
    if !enabled {
        return Err(ConnectUrlError::FeatureDisabled {
            scheme: scheme_lower,
            feature: feature.unwrap_or_default(),
        });
    }
    match scheme_lower.as_str() {
        "memory" => {
            let rest = rest.trim_start_matches("//");
            if rest.is_empty() {
                Ok(Parsed::Memory)
            } else {
                Err(malformed(url, "memory: takes nothing after the scheme"))
            }
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            // sqlite://relative/path, sqlite:///absolute/path (and sqlite:path).
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(malformed(
                    url,
                    "no file path: write sqlite://events.db or sqlite:///abs/path/events.db",
                ));
            }
            Ok(Parsed::Sqlite {
                path: path.to_owned(),
            })
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let (base, params) = take_params(url, &["schema"])?;
            Ok(Parsed::Postgres {
                url: base,
                schema: params.into_iter().next().flatten(),
            })
        }
        #[cfg(feature = "nats")]
        "nats" => {
            let (base, params) = take_params(url, &["namespace"])?;
            if let Some(query) = base.split_once('?').map(|(_, q)| q) {
                let key = query.split('&').next().unwrap_or(query);
                let key = key.split_once('=').map_or(key, |(k, _)| k);
                return Err(malformed(
                    url,
                    format!("unknown parameter {key:?}: nats urls take only namespace="),
                ));
            }
            Ok(Parsed::Nats {
                url: base,
                namespace: params.into_iter().next().flatten(),
            })
        }
        _ => Err(ConnectUrlError::FeatureDisabled {
            scheme: scheme_lower,
            feature: feature.unwrap_or_default(),
        }),
    }
}

/// Takes aether's own query parameters (`wanted`, in order) out of `url`: the URL
/// without them, and each one's value (`None` when absent). An aether parameter given
/// twice or empty is malformed.
#[cfg_attr(not(any(feature = "postgres", feature = "nats")), allow(dead_code))]
fn take_params(
    url: &str,
    wanted: &[&str],
) -> Result<(String, Vec<Option<String>>), ConnectUrlError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => return Ok((url.to_owned(), vec![None; wanted.len()])),
    };
    let mut values = vec![None; wanted.len()];
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match wanted.iter().position(|w| *w == key) {
            Some(i) => {
                let value = percent_decode(value);
                if value.is_empty() {
                    return Err(malformed(url, format!("{key}= needs a value")));
                }
                if values[i].replace(value).is_some() {
                    return Err(malformed(url, format!("{key}= is given twice")));
                }
            }
            None => kept.push(pair),
        }
    }
    let base = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((base, values))
}

pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aether_parameters_are_taken_out_and_others_kept() {
        let (base, values) = take_params(
            "postgres://u@h/db?sslmode=disable&schema=t%5Fa&application_name=x",
            &["schema"],
        )
        .unwrap();
        assert_eq!(base, "postgres://u@h/db?sslmode=disable&application_name=x");
        assert_eq!(values, vec![Some("t_a".to_owned())]);
        assert!(take_params("nats://h?namespace=", &["namespace"]).is_err());
        assert!(take_params("nats://h?namespace=a&namespace=b", &["namespace"]).is_err());
    }

    #[test]
    fn schemes_parse_or_say_what_is_wrong() {
        assert_eq!(parse("memory:").unwrap(), Parsed::Memory);
        assert!(matches!(
            parse("mysql://x").unwrap_err(),
            ConnectUrlError::UnknownScheme { scheme } if scheme == "mysql"
        ));
        assert!(matches!(
            parse("events.db").unwrap_err(),
            ConnectUrlError::Malformed { .. }
        ));
        assert!(matches!(
            parse("memory:x").unwrap_err(),
            ConnectUrlError::Malformed { .. }
        ));
        #[cfg(feature = "sqlite")]
        {
            assert_eq!(
                parse("sqlite://data/e.db").unwrap(),
                Parsed::Sqlite {
                    path: "data/e.db".into()
                }
            );
            assert_eq!(
                parse("sqlite:///abs/e.db").unwrap(),
                Parsed::Sqlite {
                    path: "/abs/e.db".into()
                }
            );
            assert!(parse("sqlite://").is_err());
        }
        #[cfg(not(feature = "nats"))]
        assert!(matches!(
            parse("nats://h").unwrap_err(),
            ConnectUrlError::FeatureDisabled {
                feature: "nats",
                ..
            }
        ));
        #[cfg(feature = "nats")]
        {
            assert_eq!(
                parse("nats://h:4222?namespace=orders").unwrap(),
                Parsed::Nats {
                    url: "nats://h:4222".into(),
                    namespace: Some("orders".into())
                }
            );
            assert!(parse("nats://h?stream=x").is_err());
        }
        #[cfg(feature = "postgres")]
        assert_eq!(
            parse("postgres://u:p@h/db?schema=s").unwrap(),
            Parsed::Postgres {
                url: "postgres://u:p@h/db".into(),
                schema: Some("s".into())
            }
        );
    }
}
