//! Configuration: [`NatsStoreBuilder`] and the names a namespace gives its stream,
//! subjects and bucket ([`Layout`]).

use std::time::Duration;

use async_nats::jetstream;

use crate::error::NatsError;
use crate::subject::encode_actor_id;
use crate::NatsStore;

/// The namespace [`NatsStore::connect`] uses.
pub const DEFAULT_NAMESPACE: &str = "default";

const MAX_NAMESPACE_LEN: usize = 64;

/// The JetStream names one namespace uses.
///
/// For the namespace `orders`:
///
/// | what | name |
/// | --- | --- |
/// | events stream | `aether_orders_events` |
/// | its subjects | `aether.orders.events.*` |
/// | one actor's subject | `aether.orders.events.<token>` (see [`crate::subject`]) |
/// | snapshot bucket (key-value) | `aether_orders_snapshots` (its stream: `KV_aether_orders_snapshots`) |
/// | one actor's snapshot key | `<token>` |
///
/// ```
/// use aether_nats::Layout;
///
/// let layout = Layout::new("orders").unwrap();
/// assert_eq!(layout.events_stream(), "aether_orders_events");
/// assert_eq!(layout.event_subject("order/7").unwrap(), "aether.orders.events.order_2F7");
/// assert_eq!(layout.snapshot_bucket(), "aether_orders_snapshots");
/// assert!(Layout::new("no.dots").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    namespace: String,
    events_stream: String,
    events_prefix: String,
    snapshot_bucket: String,
}

impl Layout {
    /// The layout of `namespace`: 1 to 64 characters of `[A-Za-z0-9_-]`, since it is part
    /// of a stream name, a subject token and a bucket name.
    ///
    /// # Errors
    ///
    /// [`NatsError::InvalidNamespace`] for any other namespace.
    pub fn new(namespace: &str) -> Result<Self, NatsError> {
        let invalid = |reason: &str| NatsError::InvalidNamespace {
            namespace: namespace.to_owned(),
            reason: reason.to_owned(),
        };
        if namespace.is_empty() {
            return Err(invalid("a namespace must not be empty"));
        }
        if namespace.len() > MAX_NAMESPACE_LEN {
            return Err(invalid("a namespace has at most 64 characters"));
        }
        if !namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "a namespace may hold only ASCII letters, digits, '_' and '-'",
            ));
        }
        Ok(Layout {
            namespace: namespace.to_owned(),
            events_stream: format!("aether_{namespace}_events"),
            events_prefix: format!("aether.{namespace}.events."),
            snapshot_bucket: format!("aether_{namespace}_snapshots"),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name of the stream that holds the namespace's events.
    pub fn events_stream(&self) -> &str {
        &self.events_stream
    }

    /// The subject filter of the events stream: `aether.<namespace>.events.*`.
    pub fn events_subjects(&self) -> String {
        format!("{}*", self.events_prefix)
    }

    /// The subject of one actor's events, or `None` if the id is empty or too long to
    /// encode (see [`crate::subject`]).
    pub fn event_subject(&self, actor_id: &str) -> Option<String> {
        encode_actor_id(actor_id).map(|token| format!("{}{token}", self.events_prefix))
    }

    /// The name of the key-value bucket that holds the namespace's snapshots.
    pub fn snapshot_bucket(&self) -> &str {
        &self.snapshot_bucket
    }
}

/// Options for [`NatsStore`]; made by [`NatsStore::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use aether_nats::NatsStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), aether_nats::NatsError> {
/// let store = NatsStore::builder()
///     .url("nats://127.0.0.1:4222")
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
#[derive(Debug, Clone)]
pub struct NatsStoreBuilder {
    pub(crate) url: String,
    pub(crate) namespace: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) replicas: usize,
}

impl Default for NatsStoreBuilder {
    fn default() -> Self {
        NatsStoreBuilder {
            url: "nats://127.0.0.1:4222".to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            replicas: 1,
        }
    }
}

impl NatsStoreBuilder {
    /// The server to dial (default `nats://127.0.0.1:4222`). Several servers of a cluster
    /// may be given separated by commas.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The namespace (default [`DEFAULT_NAMESPACE`]): each namespace has its own events
    /// stream and snapshot bucket. See [`Layout`] for the names and the allowed characters.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long [`connect`](Self::connect) may take in all, dialling and creating the
    /// stream and bucket included (default 5 s).
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

    /// Connects, then creates the namespace's stream and bucket if they do not exist.
    ///
    /// The client reconnects by itself, forever, whenever the connection drops later on.
    ///
    /// # Errors
    ///
    /// [`NatsError::InvalidNamespace`], [`NatsError::Unreachable`] (refused, DNS, auth),
    /// [`NatsError::Timeout`] after the connect timeout, [`NatsError::JetStream`] if
    /// JetStream is off or the stream or bucket cannot be created.
    pub async fn connect(self) -> Result<NatsStore, NatsError> {
        let layout = Layout::new(&self.namespace)?;
        let url = self.url.clone();
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
        let connect = async {
            let servers: Vec<&str> = url
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let client = options
                .connect(servers)
                .await
                .map_err(|err| NatsError::Unreachable {
                    url: url.clone(),
                    source: std::sync::Arc::new(err),
                })?;
            NatsStore::setup(client, layout, &self).await
        };
        tokio::time::timeout(after, connect)
            .await
            .map_err(|_| NatsError::Timeout { url, after })?
    }

    /// Uses a client the caller connected (for credentials, TLS or other options this
    /// builder does not have), then creates the namespace's stream and bucket if they do
    /// not exist. The URL and connect timeout of this builder are not used.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), except [`NatsError::Unreachable`] and
    /// [`NatsError::Timeout`].
    pub async fn connect_with_client(
        self,
        client: async_nats::Client,
    ) -> Result<NatsStore, NatsError> {
        let layout = Layout::new(&self.namespace)?;
        NatsStore::setup(client, layout, &self).await
    }

    pub(crate) fn events_config(&self, layout: &Layout) -> jetstream::stream::Config {
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

    /// The stream behind the snapshot bucket: the standard key-value layout (as
    /// `nats kv add` makes it), built here because async-nats's `create_key_value` first
    /// asks for account info in a shape NATS 2.9 does not send.
    pub(crate) fn snapshots_config(&self, layout: &Layout) -> jetstream::stream::Config {
        let bucket = layout.snapshot_bucket();
        jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(format!(
                "aether snapshots of namespace {:?}: the highest-version snapshot per actor",
                layout.namespace()
            )),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        }
    }
}
