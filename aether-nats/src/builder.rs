//! [`NatsStoreBuilder`]: where and how a [`NatsStore`] connects, and connecting: dialling
//! the server (or taking a client of yours), then creating the namespace's stream and
//! bucket if they are missing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;

use crate::auth::{redact_url, split_credentials};
use crate::error::{ConnectError, Message};
use crate::store::Inner;
use crate::subject::Layout;
use crate::NatsStore;

mod security;

use security::Security;

/// The namespace a store uses unless [`NatsStoreBuilder::namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

/// How many actors' last stored batch a store handle remembers unless
/// [`NatsStoreBuilder::tail_cache`] says otherwise.
pub const DEFAULT_TAIL_CACHE: usize = 100_000;

/// Builds a [`NatsStore`]: from a server URL or from a client you connected, with the
/// namespace, timeouts and replicas to use.
///
/// Made by [`NatsStore::builder`] or [`NatsStore::builder_from_client`]; every setting
/// has a default, so `NatsStore::builder(url).connect()` works as is.
///
/// # Credentials and TLS
///
/// One way to authenticate: [`user_and_password`](Self::user_and_password),
/// [`token`](Self::token), [`nkey`](Self::nkey) or
/// [`credentials_file`](Self::credentials_file) (a `.creds` file: JWT and NKey seed), or
/// credentials in the URL (`nats://user:password@host:4222`, `nats://token@host:4222`);
/// the builder's win over the URL's. TLS: a `tls://` URL or
/// [`require_tls`](Self::require_tls) requires it, [`tls_ca_file`](Self::tls_ca_file)
/// trusts a CA of yours (beside the system's roots), and
/// [`tls_client_cert`](Self::tls_client_cert) presents a client certificate. The server's
/// certificate is always verified, host name included. Passwords, tokens and seeds are
/// never shown: not in `Debug`, errors or logs (URLs appear as [`redact_url`] gives them).
///
/// ```no_run
/// use aether_nats::NatsStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), aether_nats::ConnectError> {
/// let password = std::env::var("NATS_PASSWORD").unwrap_or_default();
/// let store = NatsStore::builder("tls://nats.internal:4222")
///     .user_and_password("orders", password)
///     .tls_ca_file("/etc/app/nats-ca.pem")
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
/// use aether_nats::NatsStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), aether_nats::ConnectError> {
/// let store = NatsStore::builder("nats://127.0.0.1:4222")
///     .namespace("orders")
///     .connect_timeout(Duration::from_secs(3))
///     .request_timeout(Duration::from_secs(5))
///     .replicas(1)
///     .connect()
///     .await?;
/// # drop(store);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsStoreBuilder {
    source: Source,
    namespace: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    replicas: usize,
    feed_poll_interval: Duration,
    tail_cache: usize,
    /// Credentials and TLS (set in `security.rs`).
    security: Security,
}

#[derive(Clone)]
enum Source {
    Url(String),
    Client(async_nats::Client),
}

impl fmt::Debug for NatsStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Url(url) => redact_url(url),
            Source::Client(_) => "<existing client>".to_owned(),
        };
        f.debug_struct("NatsStoreBuilder")
            .field("source", &source)
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("replicas", &self.replicas)
            .field("feed_poll_interval", &self.feed_poll_interval)
            .field("tail_cache", &self.tail_cache)
            .field("auth", &self.security.auth)
            .field("tls_ca_file", &self.security.tls_ca_file)
            .field("tls_client_cert", &self.security.tls_client_cert)
            .field("require_tls", &self.security.require_tls)
            .finish()
    }
}

impl NatsStoreBuilder {
    fn new(source: Source) -> Self {
        NatsStoreBuilder {
            source,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            replicas: 1,
            feed_poll_interval: crate::feed::DEFAULT_FEED_POLL_INTERVAL,
            tail_cache: DEFAULT_TAIL_CACHE,
            security: Security::default(),
        }
    }

    /// A builder dialling `url`: one server, or several of a cluster separated by commas.
    pub(crate) fn from_url(url: String) -> Self {
        Self::new(Source::Url(url))
    }

    /// A builder on a client the caller connected.
    pub(crate) fn from_client(client: async_nats::Client) -> Self {
        Self::new(Source::Client(client))
    }

    /// The namespace (default [`DEFAULT_NAMESPACE`]): each namespace has its own events
    /// stream and snapshot bucket. See [`Layout`] for the names and the allowed characters.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long [`connect`](Self::connect) may take in all, dialling and creating the
    /// stream and bucket included (default 5 s). Not used for a store built on a client
    /// of yours ([`NatsStore::builder_from_client`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one JetStream request (a read, a publish acknowledgement, the wait for the
    /// next message of a read) may take before the operation fails with
    /// [`StoreError::Backend`](aether_core::StoreError::Backend) (default 5 s). While the
    /// connection is down, operations fail after this long; the client reconnects on
    /// its own.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Replicas of the stream and bucket when this store creates them (default 1; a
    /// JetStream cluster allows 3 or 5). Existing streams are used as they are.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// The longest [`wait_for_events`](aether_core::EventFeed::wait_for_events) waits
    /// for a wake-up before it returns anyway (default
    /// [`DEFAULT_FEED_POLL_INTERVAL`](crate::DEFAULT_FEED_POLL_INTERVAL), 100 ms). Wake-ups
    /// come from a subscription on the events subjects, so a reader usually hears of an
    /// event sooner; the poll interval bounds the wait when one is missed (a reconnect, a
    /// wake-up that came before the message was readable). Zero is taken as 1 ms.
    pub fn feed_poll_interval(mut self, interval: Duration) -> Self {
        self.feed_poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many actors' last stored batch (its version and stream sequence) the store
    /// remembers (default [`DEFAULT_TAIL_CACHE`]), so that a save publishes at once with
    /// `Nats-Expected-Last-Subject-Sequence` set to it: one round trip instead of two.
    /// The server still checks every save, so a remembered tail that another process made
    /// stale costs a rejected publish and a fresh read, never a wrong version (see the
    /// crate docs' "Atomicity and concurrency"). When more actors are in use, an arbitrary
    /// one is forgotten and pays one read on its next save; 0 turns the cache off (every
    /// save reads the subject's head first).
    pub fn tail_cache(mut self, actors: usize) -> Self {
        self.tail_cache = actors;
        self
    }

    /// Connects (unless the builder was given a client), then creates the namespace's
    /// stream and bucket if they do not exist.
    ///
    /// The client reconnects by itself, forever, whenever the connection drops later on.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidNamespace`], [`ConnectError::Credentials`] for a `.creds`
    /// file that cannot be read or URLs with different credentials,
    /// [`ConnectError::Tls`] when the server's certificate does not verify,
    /// [`ConnectError::Authentication`] when the server refuses the login,
    /// [`ConnectError::Unreachable`] (refused, DNS, other failures),
    /// [`ConnectError::Timeout`] after the connect timeout,
    /// [`ConnectError::JetStream`] if JetStream is off or the stream or bucket cannot be
    /// created. A store built on a client of yours fails with neither `Unreachable` nor
    /// `Timeout`: the client is already connected.
    pub async fn connect(self) -> Result<NatsStore, ConnectError> {
        let layout = Layout::new(&self.namespace)?;
        let url = match &self.source {
            Source::Client(client) => return self.setup(client.clone(), layout).await,
            Source::Url(url) => url.clone(),
        };
        let shown = redact_url(&url);
        let (servers, url_auth) =
            split_credentials(&url).map_err(|reason| ConnectError::Credentials { reason })?;
        let after = self.connect_timeout;
        let options = async_nats::ConnectOptions::new()
            .name("aether-nats")
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.request_timeout))
            .reconnect_delay_callback(|attempt| {
                // 50 ms, 100 ms, 200 ms ... capped at 2 s: a restarted server is found fast.
                let shift = attempt.min(6) as u32;
                Duration::from_millis(50 << shift).min(Duration::from_secs(2))
            });
        let options = self.security.apply(options, url_auth).await?;
        let connect = async {
            let client = options
                .connect(servers)
                .await
                .map_err(|err| ConnectError::from_dial(shown.clone(), err))?;
            self.setup(client, layout).await
        };
        tokio::time::timeout(after, connect)
            .await
            .map_err(|_| ConnectError::Timeout {
                url: shown.clone(),
                after,
            })?
    }

    /// Creates the namespace's stream and bucket if needed, and makes the store.
    async fn setup(
        &self,
        client: async_nats::Client,
        layout: Layout,
    ) -> Result<NatsStore, ConnectError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(self.request_timeout)
            .build(client.clone());
        let wanted = self.events_config(&layout);
        let events = js
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|err| {
                ConnectError::jetstream(format!("create stream {:?}", wanted.name), err)
            })?;
        // With one replica, the server that answers a direct get is the stream's only
        // (and so leading) server: reads need not go through the JetStream API.
        let single_replica = events.cached_info().config.num_replicas <= 1;
        let subjects = &events.cached_info().config.subjects;
        if !subjects.contains(&wanted.subjects[0]) {
            return Err(ConnectError::jetstream(
                format!("use stream {:?}", wanted.name),
                Message(format!(
                    "it exists with subjects {subjects:?}, not {:?}",
                    wanted.subjects[0]
                )),
            ));
        }
        let bucket = layout.snapshot_bucket().to_owned();
        let kv_config = self.snapshots_config(&layout);
        js.get_or_create_stream(kv_config.clone())
            .await
            .map_err(|err| {
                ConnectError::jetstream(format!("create stream {:?}", kv_config.name), err)
            })?;
        let snapshots = js
            .get_key_value(&bucket)
            .await
            .map_err(|err| ConnectError::jetstream(format!("open bucket {bucket:?}"), err))?;
        Ok(NatsStore {
            inner: Arc::new(Inner {
                client,
                js,
                events,
                snapshots,
                layout,
                request_timeout: self.request_timeout,
                tails: crate::tails::Tails::new(self.tail_cache),
                single_replica,
                pause: crate::hook::PauseHook::default(),
                feed: crate::feed::FeedState::new(self.feed_poll_interval, self.replicas),
            }),
        })
    }

    fn events_config(&self, layout: &Layout) -> jetstream::stream::Config {
        jetstream::stream::Config {
            name: layout.events_stream().to_owned(),
            description: Some(format!(
                "aether events of namespace {:?}: one message per saved batch",
                layout.namespace()
            )),
            subjects: vec![layout.events_subjects()],
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.replicas,
            allow_direct: true,
            deny_delete: true,
            deny_purge: true,
            ..Default::default()
        }
    }

    /// The stream behind the snapshot bucket (see [`kv_stream_config`]).
    fn snapshots_config(&self, layout: &Layout) -> jetstream::stream::Config {
        kv_stream_config(
            layout.snapshot_bucket(),
            format!(
                "aether snapshots of namespace {:?}: the highest-version snapshot per actor",
                layout.namespace()
            ),
            self.replicas,
        )
    }
}

/// The stream behind a key-value bucket holding one value per key: the standard
/// key-value layout (as `nats kv add` makes it), built here because async-nats's
/// `create_key_value` first asks for account info in a shape NATS 2.9 does not send.
pub(crate) fn kv_stream_config(
    bucket: &str,
    description: String,
    replicas: usize,
) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    }
}
