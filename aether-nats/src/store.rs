//! [`NatsStore`]: the store itself, and its [`EventStore`] / [`SnapshotStore`] impls.
//!
//! Reading a subject's head, searching the stream and streaming an actor's batches
//! are in `reader.rs`; connecting is in `builder.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError,
};
use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::message::PublishMessage;
use async_trait::async_trait;

use crate::builder::NatsStoreBuilder;
use crate::codec;
use crate::error::{ConnectError, Message};
use crate::reader::{Head, Read};
use crate::subject::Layout;
use crate::tails::Tail;

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
    /// The last stored batch of the actors this handle wrote or read (see `tails.rs`).
    pub(crate) tails: crate::tails::Tails,
    /// The events stream has one replica (when connecting): a direct get is then
    /// answered by the stream's only server, as up to date as the JetStream API.
    pub(crate) single_replica: bool,
    /// Test hook: a pause between reading the head and publishing (see `hook.rs`).
    pub(crate) pause: crate::hook::PauseHook,
    /// The read side: wake-ups, read cursors, the checkpoint bucket (see `feed.rs`).
    pub(crate) feed: crate::feed::FeedState,
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
    /// Connects to the server at `url` with the default settings (namespace
    /// [`DEFAULT_NAMESPACE`](crate::DEFAULT_NAMESPACE)), creating the namespace's stream
    /// and bucket if needed: `NatsStore::builder(url).connect()`.
    ///
    /// `url` is one server (`nats://127.0.0.1:4222`) or several of a cluster separated by
    /// commas.
    ///
    /// # Errors
    ///
    /// See [`NatsStoreBuilder::connect`]: an unreachable server is an error within the
    /// connect timeout (5 s by default), never a hang.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::builder(url).connect().await
    }

    /// A builder to choose the namespace, timeouts and replicas before connecting to
    /// `url` (one server, or several separated by commas); finish with
    /// [`NatsStoreBuilder::connect`].
    pub fn builder(url: impl Into<String>) -> NatsStoreBuilder {
        NatsStoreBuilder::from_url(url.into())
    }

    /// Builds a store on a client you connected (for credentials, TLS or other options
    /// the builder does not have) with the default settings, creating the namespace's
    /// stream and bucket if needed: `NatsStore::builder_from_client(client).connect()`.
    ///
    /// # Errors
    ///
    /// See [`NatsStoreBuilder::connect`].
    pub async fn from_client(client: async_nats::Client) -> Result<Self, ConnectError> {
        Self::builder_from_client(client).connect().await
    }

    /// A builder for a store on a client you connected; its URL and connect timeout are
    /// the client's own.
    pub fn builder_from_client(client: async_nats::Client) -> NatsStoreBuilder {
        NatsStoreBuilder::from_client(client)
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

    /// Deletes this namespace's events stream, snapshot bucket and checkpoint bucket,
    /// with everything in them. Other handles on the namespace fail from then on. Meant for tests and tools;
    /// nothing in the store traits deletes data.
    ///
    /// # Errors
    ///
    /// [`ConnectError::JetStream`] if a delete request fails (a stream already gone is
    /// not an error).
    pub async fn delete_namespace(&self) -> Result<(), ConnectError> {
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
            (
                format!("KV_{}", layout.checkpoint_bucket()),
                js.delete_key_value(layout.checkpoint_bucket())
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
            ),
        ] {
            if let Err(err) = result {
                if !err.contains("not found") {
                    return Err(ConnectError::jetstream(
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

#[async_trait]
impl EventStore for NatsStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let Some(actor_id) = validate_batch(events)? else {
            return Ok(());
        };
        let first = events[0].version;
        let subject = self.subject(actor_id, first)?;
        let payload: bytes::Bytes = codec::encode_batch(events)?.into();
        let max_payload = self.inner.client.server_info().max_payload;
        if max_payload > 0 && payload.len() > max_payload {
            return Err(StoreError::invalid_input(
                actor_id,
                first,
                format!(
                    "the batch encodes to {} bytes, more than the server's max_payload of {max_payload}",
                    payload.len()
                ),
            ));
        }
        let headers = codec::batch_headers(events);
        let last = events[events.len() - 1].version;
        // The remembered tail first: one round trip. Without one, or after the server
        // refused it, the subject's head: a direct get first; after a rejection, the
        // leader (a lagging replica would otherwise keep handing out the same stale head).
        let mut known = self.inner.tails.get(actor_id);
        let mut read = Read::Direct;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let tail = match known {
                Some(tail) => tail,
                None => {
                    let tail = self.tail(actor_id, &subject, first, read).await?;
                    self.inner.tails.replace(actor_id, tail);
                    tail
                }
            };
            if first <= tail.version {
                // Versions only grow, so the conflict is real; but the version a
                // remembered tail or a replica reports may lag: ask the leader for the
                // exact one.
                let now = self.tail(actor_id, &subject, first, Read::Leader).await?;
                self.inner.tails.replace(actor_id, now);
                if first <= now.version {
                    return Err(StoreError::version_conflict(actor_id, first, now.version));
                }
                // The leader has less than we knew: only a stream deleted and made
                // again does that. Write after what is there.
                known = Some(now);
                read = Read::Leader;
                continue;
            }
            // Test hook (one relaxed load when unused): another writer may land here.
            self.inner.pause.pause_if_armed().await;
            let message = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers.clone())
                .expected_last_subject_sequence(tail.sequence);
            let sent = self.inner.js.send_publish(subject.clone(), message).await;
            let ack = match sent {
                Ok(ack) => ack.await,
                Err(err) => {
                    self.inner.tails.forget(actor_id);
                    return Err(StoreError::backend(actor_id, first, err));
                }
            };
            match ack {
                Ok(ack) => {
                    self.inner.tails.remember(
                        actor_id,
                        Tail {
                            version: last,
                            sequence: ack.sequence,
                        },
                    );
                    // Readers of this handle waiting for events hear of it at once.
                    self.inner.feed.notify();
                    return Ok(());
                }
                // Another writer appended after the tail we knew: read again. The next
                // round either conflicts with the newer version or, when the batch is
                // still ahead of it (gaps), writes after it.
                Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => {
                    known = None;
                    read = Read::Leader;
                }
                // Stored or not, nobody knows: the next save reads the head.
                Err(err) => {
                    self.inner.tails.forget(actor_id);
                    return Err(StoreError::backend(actor_id, first, err));
                }
            }
        }
        Err(StoreError::backend(
            actor_id,
            first,
            Message(format!(
                "other writers appended between each of {MAX_WRITE_ATTEMPTS} reads and writes"
            )),
        ))
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let subject = self.subject(actor_id, from_version)?;
        let head = self
            .head(actor_id, &subject, from_version, Read::Leader)
            .await?;
        // A read is how an actor starts: its first save then needs no read.
        let tail = head.as_ref().map_or(Tail::EMPTY, Head::tail);
        self.inner.tails.remember(actor_id, tail);
        let Some(head) = head else {
            return Ok(Vec::new());
        };
        if from_version > head.last_version {
            return Ok(Vec::new());
        }
        if from_version >= head.first_version {
            // Everything asked for is in the newest batch: one read, no consumer.
            let message = &head.message;
            let batch = codec::decode_batch(
                actor_id,
                head.sequence,
                Some(&message.headers),
                &message.payload,
            )?;
            return Ok(batch
                .into_iter()
                .filter(|e| e.version >= from_version)
                .collect());
        }
        self.read_batches(actor_id, &subject, from_version, &head)
            .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        let subject = self.subject(actor_id, 0)?;
        let tail = self.tail(actor_id, &subject, 0, Read::Leader).await?;
        self.inner.tails.remember(actor_id, tail);
        Ok(tail.version)
    }
}

#[async_trait]
impl SnapshotStore for NatsStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        let key = self.snapshot_key(actor_id, 0)?;
        let entry = self
            .inner
            .snapshots
            .entry(key)
            .await
            .map_err(|err| StoreError::backend(actor_id, 0, err))?;
        match entry {
            Some(entry) if entry.operation == Operation::Put => {
                codec::decode_snapshot(actor_id, &entry.value).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let actor_id = snapshot.actor_id.as_str();
        let version = snapshot.version;
        let key = self.snapshot_key(actor_id, version)?;
        let value: bytes::Bytes = serde_json::to_vec(snapshot)
            .map_err(|err| StoreError::serialization(actor_id, version, err))?
            .into();
        let backend = |err: &dyn fmt::Display| {
            StoreError::backend(actor_id, version, Message(err.to_string()))
        };
        let kv = &self.inner.snapshots;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let entry = kv.entry(key.clone()).await.map_err(|e| backend(&e))?;
            let written = match entry {
                Some(entry) if entry.operation == Operation::Put => {
                    // A stored value that cannot even be read (its version included) is
                    // replaced: a broken snapshot must not block every later one.
                    match codec::snapshot_version(actor_id, &entry.value) {
                        // Latest = highest version: a lower one never replaces it.
                        Ok(stored) if stored > version => return Ok(()),
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(actor_id, version, error = %err, "unreadable stored snapshot replaced");
                        }
                    }
                    match kv.update(&key, value.clone(), entry.revision).await {
                        Ok(_) => true,
                        Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => false,
                        Err(err) => return Err(backend(&err)),
                    }
                }
                // No entry, or a delete marker: create, or update over the marker.
                Some(entry) => match kv.update(&key, value.clone(), entry.revision).await {
                    Ok(_) => true,
                    Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => false,
                    Err(err) => return Err(backend(&err)),
                },
                None => match kv.create(&key, value.clone()).await {
                    Ok(_) => true,
                    Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => false,
                    Err(err) => return Err(backend(&err)),
                },
            };
            if written {
                return Ok(());
            }
        }
        Err(backend(&format!(
            "other writers replaced the snapshot between each of {MAX_WRITE_ATTEMPTS} reads and writes"
        )))
    }
}
