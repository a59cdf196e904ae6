//! [`PostgresStoreBuilder`]: where and how a [`PostgresStore`] connects.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;

use crate::error::{ConnectError, NoConnection, PostgresError};
use crate::feed::{FeedState, Notifier};
use crate::schema::{self, Statements};
use crate::store::{Inner, PostgresStore};
use crate::tls::{self, RootCert, SslMode, TlsSettings};
use crate::writer::{spawn_writers, WriterContext};

/// The schema a store uses when none is configured.
pub const DEFAULT_SCHEMA: &str = "aether";

/// How long a feed reader waits at most between two looks at the feed when no
/// notification arrives, unless [`PostgresStoreBuilder::feed_poll_interval`] says
/// otherwise: 100 ms.
pub const DEFAULT_FEED_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long a feed read waits at most for events held back by older open transactions,
/// unless [`PostgresStoreBuilder::feed_read_wait`] says otherwise: 1 s.
pub const DEFAULT_FEED_READ_WAIT: Duration = Duration::from_secs(1);

/// Builds a [`PostgresStore`]: from a connection URL or from an existing pool, with the
/// schema, pool size, timeouts and group-commit limits to use.
///
/// Made by [`PostgresStore::builder`] or [`PostgresStore::builder_from_pool`]; every
/// setting has a default, so `PostgresStore::builder(url).connect()` works as is.
///
/// # TLS and credentials
///
/// The connection string's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are honoured
/// as libpq does (see [`SslMode`]); the builder's [`ssl_mode`](Self::ssl_mode),
/// [`tls_ca_file`](Self::tls_ca_file), [`tls_system_roots`](Self::tls_system_roots),
/// [`tls_client_cert`](Self::tls_client_cert) and [`password`](Self::password) take
/// precedence over them. The password is never shown: not in `Debug`, errors or logs.
///
/// ```no_run
/// use aether_postgres::{PostgresStore, SslMode};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aether_postgres::ConnectError> {
/// let password = std::env::var("APP_DB_PASSWORD").unwrap_or_default();
/// let store = PostgresStore::builder("postgres://app@db.internal:5432/app")
///     .password(password)
///     .ssl_mode(SslMode::VerifyFull)
///     .tls_ca_file("/etc/app/db-ca.pem")
///     .connect()
///     .await?;
/// # drop(store);
/// # Ok(())
/// # }
/// ```
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use aether_postgres::PostgresStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aether_postgres::ConnectError> {
/// let store = PostgresStore::builder("postgres://postgres@localhost/app")
///     .schema("tenant_a")
///     .application_name("billing")
///     .max_connections(16)
///     .connect_timeout(Duration::from_secs(3))
///     .connect()
///     .await?;
/// # drop(store);
/// # Ok(())
/// # }
/// ```
pub struct PostgresStoreBuilder {
    source: Source,
    settings: Settings,
    /// Never shown: `Debug` prints whether one is set.
    password: Option<String>,
}

/// What a builder sets; a store keeps it (and shows it in its `Debug`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) schema: String,
    application_name: Option<String>,
    max_connections: usize,
    connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    writers: usize,
    max_group_events: usize,
    feed_poll_interval: Duration,
    feed_read_wait: Duration,
    /// What the builder set; the connection string's parameters fill the rest.
    tls: TlsSettings,
}

enum Source {
    Url(String),
    Pool(Pool),
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            // The URL may hold a password: show only where it points.
            Source::Url(url) => match tls::split_params(url)
                .ok()
                .and_then(|(rest, _)| rest.parse::<tokio_postgres::Config>().ok())
            {
                Some(config) => target_of(&config),
                None => "<invalid url>".to_owned(),
            },
            Source::Pool(_) => "<existing pool>".to_owned(),
        };
        f.debug_struct("PostgresStoreBuilder")
            .field("source", &source)
            .field("settings", &self.settings)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PostgresStoreBuilder {
    fn new(source: Source) -> Self {
        PostgresStoreBuilder {
            source,
            settings: Settings {
                schema: DEFAULT_SCHEMA.to_owned(),
                application_name: Some("aether".to_owned()),
                max_connections: 8,
                connect_timeout: Duration::from_secs(10),
                operation_timeout: Duration::from_secs(30),
                writers: 2,
                max_group_events: 2_000,
                feed_poll_interval: DEFAULT_FEED_POLL_INTERVAL,
                feed_read_wait: DEFAULT_FEED_READ_WAIT,
                tls: TlsSettings::default(),
            },
            password: None,
        }
    }

    pub(crate) fn from_url(url: String) -> Self {
        Self::new(Source::Url(url))
    }

    pub(crate) fn from_pool(pool: Pool) -> Self {
        Self::new(Source::Pool(pool))
    }

    /// The schema holding the store's tables (default [`DEFAULT_SCHEMA`], `"aether"`).
    ///
    /// It is created on connect if missing. Stores on different schemas never see each
    /// other's data: one schema per tenant, or per test. Any name PostgreSQL accepts as a
    /// quoted identifier works (at most 63 bytes, no NUL, not starting with `pg_`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.settings.schema = schema.into();
        self
    }

    /// The `application_name` of the store's connections (default `"aether"`), as shown
    /// in `pg_stat_activity`. Ignored when the store is built from an existing pool.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.settings.application_name = Some(name.into());
        self
    }

    /// The most connections the store's pool opens (default 8). Ignored when the store
    /// is built from an existing pool, whose own limit applies.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.settings.max_connections = max.max(1);
        self
    }

    /// How long opening one connection may take before it fails (default 10 s). A server
    /// that cannot be reached makes [`connect`](Self::connect) fail after at most this.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How long one store operation may take, waiting for a connection included, before
    /// it fails with [`StoreError::Backend`](aether_core::StoreError::Backend) (default
    /// 30 s). A write that timed out may or may not have been committed.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.settings.operation_timeout = timeout;
        self
    }

    /// How many group-commit statements may run at once, each on its own connection
    /// (default 2). Fewer writers make larger groups, which PostgreSQL writes more cheaply
    /// per event, and fewer open transactions for feed readers to wait for; more let one
    /// group execute while others wait for their commit to reach the disk (concurrent
    /// commits share a flush). Keep it below the pool size, so that reads find connections
    /// too.
    pub fn writers(mut self, writers: usize) -> Self {
        self.settings.writers = writers.max(1);
        self
    }

    /// The most events one group-commit statement carries (default 2,000). A single batch
    /// larger than this is still written, alone, in one statement.
    pub fn max_group_events(mut self, max: usize) -> Self {
        self.settings.max_group_events = max.max(1);
        self
    }

    /// The longest a feed reader waits in
    /// [`wait_for_events`](aether_core::EventFeed::wait_for_events) when no notification
    /// arrives (default [`DEFAULT_FEED_POLL_INTERVAL`], 100 ms; at least 1 ms).
    ///
    /// Appends notify readers at once (`NOTIFY` on the schema's channel, heard by a
    /// listener connection each store opens on its first wait). The interval bounds the
    /// wait when an event becomes readable without a notification: an older transaction
    /// that held the feed back ended, the listener's connection is being re-opened, or the
    /// store was built from a pool (it has no listener; appends of other processes are
    /// then seen within the interval). Shorter intervals mean more queries from idle
    /// readers.
    pub fn feed_poll_interval(mut self, interval: Duration) -> Self {
        self.settings.feed_poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long [`read_feed`](aether_core::EventFeed::read_feed) waits at most for events
    /// that were committed before it looked but are still held back by an older open
    /// transaction (default [`DEFAULT_FEED_READ_WAIT`], 1 s; `Duration::ZERO` never
    /// waits).
    ///
    /// A read that finds fewer events than its limit while committed events after its
    /// position are still above the horizon (see the crate docs' "Feed" section) waits,
    /// up to this long, for the horizon to pass them, then reads once more. So an event
    /// whose `save_events` has returned is in the next read, unless some transaction
    /// older than it stays open longer than this; then the read returns what is readable
    /// and the event comes in a later read. Never a skip, only a delay.
    pub fn feed_read_wait(mut self, wait: Duration) -> Self {
        self.settings.feed_read_wait = wait;
        self
    }

    /// Whether and how to use TLS (default: the connection string's `sslmode`, else
    /// [`SslMode::Prefer`], as libpq). Ignored when the store is built from a pool.
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.settings.tls.mode = Some(mode);
        self
    }

    /// Trust only the CAs in this PEM file to sign the server's certificate (libpq's
    /// `sslrootcert`). With it, `prefer` and `require` verify the chain too. Without it
    /// (and without `sslrootcert`), `verify-ca` and `verify-full` trust the system's roots.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.settings.tls.root_cert = Some(RootCert::File(path.into()));
        self
    }

    /// Trust the operating system's root CAs (libpq's `sslrootcert=system`); unless a
    /// mode is set, this makes the mode [`SslMode::VerifyFull`].
    pub fn tls_system_roots(mut self) -> Self {
        self.settings.tls.root_cert = Some(RootCert::System);
        self
    }

    /// Authenticate with a client certificate: a PEM certificate file (its chain, leaf
    /// first) and the PEM private key file (libpq's `sslcert` and `sslkey`). The server
    /// asks for it with a `cert` line in `pg_hba.conf` or `clientcert=verify-full`.
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.settings.tls.client_cert = Some(cert.into());
        self.settings.tls.client_key = Some(key.into());
        self
    }

    /// The password, instead of one in the connection string (it wins over one there).
    /// Keeps it out of URLs that end up in config files and process lists; it is never
    /// shown in `Debug`, errors or logs. Ignored when the store is built from a pool.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Connects, creates or migrates the schema, and starts the store's background
    /// writers on the current tokio runtime.
    ///
    /// The store must be used inside the runtime that built it (its connections and
    /// writers are tasks of that runtime).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] for an invalid URL or schema name, or a CA, certificate or
    /// key file that cannot be read, [`ConnectError::Tls`] when the server does not offer
    /// TLS that the mode requires or its certificate does not verify,
    /// [`ConnectError::Authentication`] when the server refuses the user or password,
    /// [`ConnectError::Unreachable`] when no connection can be opened within the connect
    /// timeout, [`ConnectError::Schema`] when creating or migrating the tables fails, and
    /// [`ConnectError::NewerSchema`] when the schema was made by a newer aether-postgres.
    pub async fn connect(self) -> Result<PostgresStore, ConnectError> {
        let quoted = schema::quote_schema(&self.settings.schema)?;
        let (pool, target, host, listen_config) = match self.source {
            Source::Url(ref url) => {
                let config_error = |reason: String| ConnectError::Config { reason };
                let (rest, url_tls) = tls::split_params(url).map_err(config_error)?;
                let mut config: tokio_postgres::Config =
                    rest.parse().map_err(|err| ConnectError::Config {
                        reason: format!("invalid connection url: {}", PostgresError::from(err)),
                    })?;
                if let Some(name) = &self.settings.application_name {
                    config.application_name(name);
                }
                if let Some(password) = &self.password {
                    config.password(password.as_bytes());
                }
                let tls = self.settings.tls.over(url_tls);
                config.ssl_mode(tls::driver_mode(tls.effective_mode()));
                let connector = tls::connector(&tls).map_err(config_error)?;
                config.connect_timeout(self.settings.connect_timeout);
                config.keepalives(true);
                config.keepalives_idle(Duration::from_secs(30));
                let target = target_of(&config);
                let host = match config.get_hosts().first() {
                    Some(Host::Tcp(name)) => name.clone(),
                    _ => String::new(),
                };
                let listen_config = (config.clone(), connector.clone());
                let manager = Manager::from_config(
                    config,
                    connector,
                    ManagerConfig {
                        recycling_method: RecyclingMethod::Fast,
                    },
                );
                let pool = Pool::builder(manager)
                    .max_size(self.settings.max_connections)
                    .runtime(Runtime::Tokio1)
                    .wait_timeout(Some(self.settings.operation_timeout))
                    .create_timeout(Some(self.settings.connect_timeout))
                    .recycle_timeout(Some(self.settings.connect_timeout))
                    .build()
                    .map_err(|err| ConnectError::Config {
                        reason: format!("cannot build the connection pool: {err}"),
                    })?;
                (pool, target, host, Some(listen_config))
            }
            Source::Pool(ref pool) => (
                pool.clone(),
                "<existing pool>".to_owned(),
                String::new(),
                None,
            ),
        };
        let mut client = match tokio::time::timeout(
            self.settings.connect_timeout + Duration::from_millis(500),
            pool.get(),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                return Err(ConnectError::from_connect(
                    target,
                    &host,
                    PostgresError::from(err),
                ))
            }
            Err(_) => {
                return Err(ConnectError::unreachable(
                    target,
                    NoConnection(self.settings.connect_timeout),
                ))
            }
        };
        schema::migrate(&mut client, &self.settings.schema).await?;
        drop(client);

        let statements = Arc::new(Statements::new(&quoted));
        let feed = FeedState::new(
            schema::notify_channel(&self.settings.schema),
            self.settings.feed_poll_interval,
            self.settings.feed_read_wait,
            listen_config,
        );
        let context = Arc::new(WriterContext {
            pool: pool.clone(),
            statements: Arc::clone(&statements),
            operation_timeout: self.settings.operation_timeout,
            max_group_events: self.settings.max_group_events,
            notifier: Notifier::spawn(
                pool.clone(),
                feed.channel.clone(),
                feed.origin.clone(),
                self.settings.operation_timeout,
            ),
            wake: Arc::clone(&feed.wake),
        });
        let queue = spawn_writers(
            context,
            self.settings.writers,
            4 * self.settings.max_group_events,
        );
        Ok(PostgresStore::from_inner(Inner {
            pool,
            statements,
            queue,
            target,
            settings: self.settings,
            feed,
        }))
    }
}

/// Where a configuration points, without credentials.
fn target_of(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "<default host>".to_owned()
    } else {
        hosts.join(",")
    };
    match config.get_dbname() {
        Some(db) => format!("{hosts}/{db}"),
        None => hosts,
    }
}
