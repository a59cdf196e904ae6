//! [`NatsStore`]: the handle, connecting and the namespace's resources. The store traits
//! are implemented in `events.rs` and `snapshots.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{validate_actor_id, StoreError};
use async_nats::jetstream::{self, kv};

use crate::config::{Layout, NatsStoreBuilder};
use crate::error::{Message, NatsError};

/// How many times a save re-reads what is stored and tries again when other writers
/// keep landing between its read and its write (each retry means another writer
/// progressed).
pub(crate) const MAX_WRITE_ATTEMPTS: usize = 32;

/// An aether store on NATS JetStream: events in a stream, snapshots in a key-value
/// bucket, one of each per namespace.
///
/// Cheap to clone: clones share one connection. See the [crate docs](crate) for the
/// layout, the atomicity and the durability it gives.
///
/// # Examples
///
/// ```no_run
/// use aether_core::EventStore;
/// use aether_nats::NatsStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = NatsStore::connect("nats://127.0.0.1:4222").await?;
/// let latest = store.get_latest_version("account-1").await?;
/// # let _ = latest;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) events: jetstream::stream::Stream,
    pub(crate) snapshots: kv::Store,
    pub(crate) layout: Layout,
    pub(crate) request_timeout: Duration,
    /// Test hook: a pause between reading the head and publishing (see `hook.rs`).
    pub(crate) pause: crate::hook::PauseHook,
}

impl fmt::Debug for NatsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsStore")
            .field("namespace", &self.inner.layout.namespace())
            .field("events_stream", &self.inner.layout.events_stream())
            .field("snapshot_bucket", &self.inner.layout.snapshot_bucket())
            .field("connection", &self.inner.client.connection_state())
            .finish()
    }
}

impl NatsStore {
    /// Connects to the server at `url` and uses the namespace
    /// [`DEFAULT_NAMESPACE`](crate::DEFAULT_NAMESPACE), creating its stream and bucket if
    /// needed. [`NatsStore::builder`] has the other options.
    ///
    /// # Errors
    ///
    /// See [`NatsStoreBuilder::connect`]: an unreachable server is an error within the
    /// connect timeout (5 s by default), never a hang.
    pub async fn connect(url: &str) -> Result<Self, NatsError> {
        NatsStoreBuilder::default().url(url).connect().await
    }

    /// Options: URL, namespace, timeouts, replicas.
    pub fn builder() -> NatsStoreBuilder {
        NatsStoreBuilder::default()
    }

    pub(crate) async fn setup(
        client: async_nats::Client,
        layout: Layout,
        options: &NatsStoreBuilder,
    ) -> Result<Self, NatsError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());
        let wanted = options.events_config(&layout);
        let events = js
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|err| NatsError::jetstream(format!("create stream {:?}", wanted.name), err))?;
        let subjects = &events.cached_info().config.subjects;
        if !subjects.contains(&wanted.subjects[0]) {
            return Err(NatsError::jetstream(
                format!("use stream {:?}", wanted.name),
                Message(format!(
                    "it exists with subjects {subjects:?}, not {:?}",
                    wanted.subjects[0]
                )),
            ));
        }
        let bucket = layout.snapshot_bucket().to_owned();
        let kv_config = options.snapshots_config(&layout);
        js.get_or_create_stream(kv_config.clone())
            .await
            .map_err(|err| {
                NatsError::jetstream(format!("create stream {:?}", kv_config.name), err)
            })?;
        let snapshots = js
            .get_key_value(&bucket)
            .await
            .map_err(|err| NatsError::jetstream(format!("open bucket {bucket:?}"), err))?;
        Ok(NatsStore {
            inner: Arc::new(Inner {
                client,
                js,
                events,
                snapshots,
                layout,
                request_timeout: options.request_timeout,
                pause: crate::hook::PauseHook::default(),
            }),
        })
    }

    /// The names of this store's stream, subjects and bucket.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        self.inner.layout.namespace()
    }

    /// The underlying NATS client (shared with the store).
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// Deletes this namespace's events stream and snapshot bucket, with everything in
    /// them. Other handles on the namespace fail from then on. Meant for tests and tools;
    /// nothing in the store traits deletes data.
    ///
    /// # Errors
    ///
    /// [`NatsError::JetStream`] if a delete request fails (a stream already gone is not
    /// an error).
    pub async fn delete_namespace(&self) -> Result<(), NatsError> {
        let js = &self.inner.js;
        let layout = &self.inner.layout;
        for (what, result) in [
            (
                layout.events_stream().to_owned(),
                js.delete_stream(layout.events_stream())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
            ),
            (
                format!("KV_{}", layout.snapshot_bucket()),
                js.delete_key_value(layout.snapshot_bucket())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
            ),
        ] {
            if let Err(err) = result {
                if !err.contains("not found") {
                    return Err(NatsError::jetstream(
                        format!("delete {what:?}"),
                        Message(err),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn subject(&self, actor_id: &str, version: i64) -> Result<String, StoreError> {
        validate_actor_id(actor_id, version)?;
        self.inner.layout.event_subject(actor_id).ok_or_else(|| {
            StoreError::invalid_input(
                actor_id,
                version,
                format!(
                    "the actor id encodes to a subject token longer than {} characters",
                    crate::subject::MAX_TOKEN_LEN
                ),
            )
        })
    }

    pub(crate) fn snapshot_key(&self, actor_id: &str, version: i64) -> Result<String, StoreError> {
        validate_actor_id(actor_id, version)?;
        crate::subject::encode_actor_id(actor_id).ok_or_else(|| {
            StoreError::invalid_input(actor_id, version, "the actor id is too long to encode")
        })
    }
}
