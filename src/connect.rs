//! One-line stores: [`connect`] opens the store a URL names, with the store features
//! compiled in, and gives an [`AnyStore`] usable as every store trait at once.
//!
//! | URL | Store | Feature |
//! |---|---|---|
//! | `memory:` | [`InMemoryStore`] (empty, gone with the process) | always |
//! | `sqlite://events.db`, `sqlite://data/events.db` | SQLite file, path relative to the working directory | `sqlite` |
//! | `sqlite:///var/lib/app/events.db` | SQLite file, absolute path | `sqlite` |
//! | `postgres://user:pw@host:5432/db?schema=tenant_a` (or `postgresql://`) | PostgreSQL, tables in schema `tenant_a` (default `aether`) | `postgres` |
//! | `nats://host:4222?namespace=orders` | NATS JetStream, namespace `orders` (default `default`) | `nats` |
//!
//! `schema` and `namespace` are aether's own query parameters: they are taken out before
//! the rest of the URL goes to the store's builder (a PostgreSQL URL keeps its other
//! parameters, such as `sslmode`). For other settings, build the store with its builder
//! and wrap it with [`AnyStore::new`].
//!
//! # Passwords
//!
//! Every URL aether shows (in a [`ConnectUrlError`], a `Debug` or a log line) goes through
//! [`redact_url`] first: `postgres://app:secret@db/app` is shown as
//! `postgres://app:***@db/app`. A store error whose text contains the password is replaced
//! by its text with the password masked.
//!
//! # Examples
//!
//! ```
//! use aether::feed::{EventFeed, FeedFilter, Position};
//! use aether::EventStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = aether::connect("memory:").await?;
//! assert_eq!(store.get_latest_version("Account|1").await?, 0);
//! assert!(store.read_feed(Position::START, &FeedFilter::all(), 10).await?.events.is_empty());
//! let runtime = store.runtime_builder().build();
//! # runtime.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use aether_core::{
    async_trait, ActorSnapshot, BoxError, CheckpointStore, Event, EventFeed, EventStore, FeedError,
    FeedFilter, FeedPage, InMemoryStore, Position, SnapshotStore, StoreError,
};
use aether_runtime::{Runtime, RuntimeBuilder};

/// Everything a complete store is: events and snapshots ([`SnapshotStore`]), the feed
/// ([`EventFeed`]) and projection checkpoints ([`CheckpointStore`]). Implemented for every
/// type that is all three; every store of aether is.
pub trait Store: SnapshotStore + EventFeed + CheckpointStore {}

impl<T: SnapshotStore + EventFeed + CheckpointStore + ?Sized> Store for T {}

/// The URL schemes [`connect`] knows, each with the feature it needs.
pub const SCHEMES: &[(&str, Option<&str>)] = &[
    ("memory", None),
    ("sqlite", Some("sqlite")),
    ("postgres", Some("postgres")),
    ("postgresql", Some("postgres")),
    ("nats", Some("nats")),
];

/// Which kind of store an [`AnyStore`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreKind {
    /// [`InMemoryStore`].
    Memory,
    /// `aether_sqlite::SqliteStore`.
    Sqlite,
    /// `aether_postgres::PostgresStore`.
    Postgres,
    /// `aether_nats::NatsStore`.
    Nats,
    /// A store of another type, wrapped with [`AnyStore::new`].
    Other,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::Nats => "nats",
            StoreKind::Other => "other",
        })
    }
}

/// A store of any type, usable as every store trait at once: it implements
/// [`EventStore`], [`SnapshotStore`], [`EventFeed`] and [`CheckpointStore`] by forwarding,
/// and gives `Arc<dyn ..>` handles for each ([`snapshot_store`](Self::snapshot_store),
/// [`feed`](Self::feed), [`checkpoints`](Self::checkpoints)) and a
/// [`runtime_builder`](Self::runtime_builder). Cloning is cheap: clones share the store.
///
/// Made by [`connect`], or by [`AnyStore::new`] from a store you built.
#[derive(Clone)]
pub struct AnyStore {
    store: Arc<dyn Store>,
    any: Arc<dyn Any + Send + Sync>,
    kind: StoreKind,
    url: String,
}

impl fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyStore")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AnyStore {
    /// Wraps a store of yours. `url` says where it is, for messages; it is kept
    /// redacted ([`redact_url`]).
    pub fn new<S: Store>(store: Arc<S>, url: &str) -> Self {
        Self::with_kind(store, StoreKind::Other, url)
    }

    fn with_kind<S: Store>(store: Arc<S>, kind: StoreKind, url: &str) -> Self {
        AnyStore {
            any: store.clone(),
            store,
            kind,
            url: redact_url(url),
        }
    }

    /// Which kind of store this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The URL the store was opened with, password masked ([`redact_url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store as its own type, if it is a `S`: for what only one store has
    /// (`store.downcast_ref::<aether::sqlite::SqliteStore>().map(|s| s.path())`).
    pub fn downcast_ref<S: Store>(&self) -> Option<&S> {
        self.any.downcast_ref::<S>()
    }

    /// The store, as every trait at once.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The store as a [`SnapshotStore`] (what [`Runtime::builder`] takes).
    pub fn snapshot_store(&self) -> Arc<dyn SnapshotStore> {
        Arc::new(self.clone())
    }

    /// The store as an [`EventFeed`] (what projections and `aether::feed::follow` read).
    pub fn feed(&self) -> Arc<dyn EventFeed> {
        Arc::new(self.clone())
    }

    /// The store as a [`CheckpointStore`] (where projections keep their checkpoints).
    pub fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.clone())
    }

    /// A [`RuntimeBuilder`] on this store, for settings; `.build()` it.
    pub fn runtime_builder(&self) -> RuntimeBuilder {
        Runtime::builder(self.snapshot_store())
    }

    /// A [`Runtime`] with default settings on this store.
    pub fn runtime(&self) -> Runtime {
        self.runtime_builder().build()
    }
}

#[async_trait]
impl EventStore for AnyStore {
    async fn save_event(&self, event: &Event) -> Result<(), StoreError> {
        self.store.save_event(event).await
    }
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.store.save_events(events).await
    }
    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.store.append_events(events).await
    }
    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        self.store.get_events(actor_id, from_version).await
    }
    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.store.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for AnyStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        self.store.get_latest_snapshot(actor_id).await
    }
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        self.store.save_snapshot(snapshot).await
    }
}

#[async_trait]
impl EventFeed for AnyStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        self.store.read_feed(after, filter, limit).await
    }
    async fn feed_head(&self) -> Result<Position, FeedError> {
        self.store.feed_head().await
    }
    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        self.store.feed_lag(after).await
    }
    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        self.store.wait_for_events(after).await
    }
}

#[async_trait]
impl CheckpointStore for AnyStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        self.store.load_checkpoint(projection).await
    }
    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        self.store.save_checkpoint(projection, position).await
    }
    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        self.store.delete_checkpoint(projection).await
    }
}

/// Why [`connect`] failed. Every URL in it is redacted ([`redact_url`]).
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

/// Opens the store `url` names (see [the module docs](self) for the forms), with the
/// store features compiled in.
///
/// # Errors
///
/// [`ConnectUrlError::UnknownScheme`], [`FeatureDisabled`](ConnectUrlError::FeatureDisabled),
/// [`Malformed`](ConnectUrlError::Malformed), or [`Store`](ConnectUrlError::Store) with
/// the store's own error when it cannot be opened or reached.
///
/// # Panics
///
/// Outside a tokio runtime (the stores start tasks or threads on it).
pub async fn connect(url: &str) -> Result<AnyStore, ConnectUrlError> {
    let parsed = parse(url)?;
    match parsed {
        Parsed::Memory => Ok(AnyStore::with_kind(
            Arc::new(InMemoryStore::new()),
            StoreKind::Memory,
            url,
        )),
        #[cfg(feature = "sqlite")]
        Parsed::Sqlite { path } => {
            let store = aether_sqlite::SqliteStore::open(&path)
                .await
                .map_err(|e| store_error(StoreKind::Sqlite, url, e))?;
            Ok(AnyStore::with_kind(Arc::new(store), StoreKind::Sqlite, url))
        }
        #[cfg(feature = "postgres")]
        Parsed::Postgres {
            url: pg_url,
            schema,
        } => {
            let mut builder = aether_postgres::PostgresStore::builder(pg_url);
            if let Some(schema) = schema {
                builder = builder.schema(schema);
            }
            let store = builder
                .connect()
                .await
                .map_err(|e| store_error(StoreKind::Postgres, url, e))?;
            Ok(AnyStore::with_kind(
                Arc::new(store),
                StoreKind::Postgres,
                url,
            ))
        }
        #[cfg(feature = "nats")]
        Parsed::Nats {
            url: nats_url,
            namespace,
        } => {
            let mut builder = aether_nats::NatsStore::builder(nats_url);
            if let Some(namespace) = namespace {
                builder = builder.namespace(namespace);
            }
            let store = builder
                .connect()
                .await
                .map_err(|e| store_error(StoreKind::Nats, url, e))?;
            Ok(AnyStore::with_kind(Arc::new(store), StoreKind::Nats, url))
        }
    }
}

/// What a URL says, before anything is opened.
#[derive(Debug, PartialEq)]
enum Parsed {
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

fn malformed(url: &str, reason: impl Into<String>) -> ConnectUrlError {
    ConnectUrlError::Malformed {
        url: redact_url(url),
        reason: reason.into(),
    }
}

fn parse(url: &str) -> Result<Parsed, ConnectUrlError> {
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

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
fn store_error<E>(kind: StoreKind, url: &str, error: E) -> ConnectUrlError
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

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "nats")),
    allow(dead_code)
)]
fn mask(mut text: String, secrets: &[String]) -> String {
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
fn secrets_of(url: &str) -> Vec<String> {
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

fn percent_decode(text: &str) -> String {
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
