//! [`NatsStore`]: the [`EventStore`] and [`SnapshotStore`] on NATS JetStream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{
    validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError,
    VersionConflictError,
};
use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy},
    context::PublishErrorKind,
    kv::{self, Operation},
    message::{PublishMessage, StreamMessage},
    stream::{DirectGetErrorKind, LastRawMessageErrorKind},
};
use async_trait::async_trait;
use futures::StreamExt;

use crate::codec;
use crate::config::{Layout, NatsStoreBuilder};
use crate::error::{Message, NatsError};

/// How many times a save re-reads the head and tries again when other writers keep
/// landing between its read and its write (each retry means another writer progressed).
const MAX_WRITE_ATTEMPTS: usize = 32;

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
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    events: jetstream::stream::Stream,
    snapshots: kv::Store,
    layout: Layout,
    request_timeout: Duration,
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

/// How [`NatsStore::head`] reads.
#[derive(Clone, Copy)]
enum Read {
    Leader,
    Direct,
}

/// The newest message on an actor's subject.
struct Head {
    /// Its stream sequence: what the next write expects as last subject sequence.
    sequence: u64,
    first_version: i64,
    last_version: i64,
    message: StreamMessage,
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

    fn subject(&self, actor_id: &str, version: i64) -> Result<String, StoreError> {
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

    fn snapshot_key(&self, actor_id: &str, version: i64) -> Result<String, StoreError> {
        validate_actor_id(actor_id, version)?;
        crate::subject::encode_actor_id(actor_id).ok_or_else(|| {
            StoreError::invalid_input(actor_id, version, "the actor id is too long to encode")
        })
    }

    /// The newest message on the actor's subject.
    ///
    /// [`Read::Leader`] asks the stream leader (a JetStream API request): linearizable,
    /// so a read sees every acknowledged write. [`Read::Direct`] uses direct get, which
    /// the server answers off the API queue (much cheaper under load) but which, on a
    /// replicated stream, a lagging replica may answer; writes use it because the
    /// server's expected-sequence check catches a stale head anyway.
    async fn head(
        &self,
        actor_id: &str,
        subject: &str,
        version: i64,
        read: Read,
    ) -> Result<Option<Head>, StoreError> {
        let events = &self.inner.events;
        let message = match read {
            Read::Leader => match events.get_last_raw_message_by_subject(subject).await {
                Ok(message) => message,
                Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(None)
                }
                Err(err) => return Err(StoreError::backend(actor_id, version, err)),
            },
            Read::Direct => match events.direct_get_last_for_subject(subject).await {
                Ok(message) => message,
                Err(err) if err.kind() == DirectGetErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(StoreError::backend(actor_id, version, err)),
            },
        };
        let (first_version, last_version) = codec::batch_bounds(
            actor_id,
            message.sequence,
            Some(&message.headers),
            &message.payload,
        )?;
        Ok(Some(Head {
            sequence: message.sequence,
            first_version,
            last_version,
            message,
        }))
    }

    fn conflict(actor_id: &str, attempted: i64, current: i64) -> StoreError {
        VersionConflictError {
            actor_id: actor_id.to_owned(),
            attempted_version: attempted,
            current_version: current,
        }
        .into()
    }

    /// The first message on `subject` at or after stream sequence `from`, as its
    /// sequence and last version; `None` when there is none (or a lagging replica does
    /// not have it yet).
    async fn next_batch_at(
        &self,
        actor_id: &str,
        subject: &str,
        from: u64,
        version: i64,
    ) -> Result<Option<(u64, i64)>, StoreError> {
        let message = match self
            .inner
            .events
            .direct_get_next_for_subject(subject, Some(from))
            .await
        {
            Ok(message) => message,
            Err(err) if err.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StoreError::backend(actor_id, version, err)),
        };
        let (_, last) = codec::batch_bounds(
            actor_id,
            message.sequence,
            Some(&message.headers),
            &message.payload,
        )?;
        Ok(Some((message.sequence, last)))
    }

    /// A stream sequence to start reading the actor's batches at: at or before its first
    /// batch that holds a version `>= from_version`, and after as many of the batches
    /// wholly below it as a binary search finds in a few direct gets.
    ///
    /// Versions grow with stream sequences, so "the actor's next batch at or after
    /// sequence s reaches `from_version`" is false, then true, as s grows: a binary
    /// search over `[first batch, head]` finds the boundary in log2(head - first) gets.
    /// Short ranges are not searched: streaming them costs less.
    async fn start_sequence(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        head: u64,
    ) -> Result<u64, StoreError> {
        const WORTH_SEARCHING: u64 = 64;
        let Some((first, first_last)) = self
            .next_batch_at(actor_id, subject, 1, from_version)
            .await?
        else {
            return Ok(1);
        };
        if first_last >= from_version || head.saturating_sub(first) < WORTH_SEARCHING {
            return Ok(first);
        }
        // Invariant: the wanted batch is at or after `lo`, and the next batch at or after
        // `hi` reaches `from_version` (the head does).
        let (mut lo, mut hi) = (first + 1, head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self
                .next_batch_at(actor_id, subject, mid, from_version)
                .await?
            {
                Some((sequence, last)) if last < from_version => lo = sequence + 1,
                // Reaches it; or not found on a lagging replica: starting earlier is safe.
                _ => hi = mid,
            }
        }
        Ok(lo)
    }

    /// Reads the actor's batches with a short-lived pull consumer, from the start
    /// sequence [`start_sequence`](Self::start_sequence) finds up to and including the
    /// message at `until` (the head when the read began).
    async fn read_with_consumer(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        until: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let backend = |err: &dyn fmt::Display| {
            StoreError::backend(actor_id, from_version, Message(err.to_string()))
        };
        let start_sequence = self
            .start_sequence(actor_id, subject, from_version, until)
            .await?;
        let consumer = self
            .inner
            .events
            .create_consumer(pull::Config {
                filter_subject: subject.to_owned(),
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
                ack_policy: AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                memory_storage: true,
                ..Default::default()
            })
            .await
            .map_err(|err| StoreError::backend(actor_id, from_version, err))?;
        let name = consumer.cached_info().name.clone();
        let result = async {
            let mut messages = consumer
                .stream()
                .max_messages_per_batch(500)
                .messages()
                .await
                .map_err(|err| StoreError::backend(actor_id, from_version, err))?;
            let mut events = Vec::new();
            loop {
                let next = tokio::time::timeout(self.inner.request_timeout, messages.next())
                    .await
                    .map_err(|_| backend(&"timed out waiting for the next stored batch"))?;
                let message = match next {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => return Err(backend(&err)),
                    None => return Err(backend(&"the consumer ended before the last batch")),
                };
                let sequence = message.info().map_err(|e| backend(&e))?.stream_sequence;
                let headers = message.headers.as_ref();
                let (_, last) = codec::batch_bounds(actor_id, sequence, headers, &message.payload)?;
                if last >= from_version {
                    let batch = codec::decode_batch(actor_id, sequence, headers, &message.payload)?;
                    events.extend(batch.into_iter().filter(|e| e.version >= from_version));
                }
                if sequence >= until {
                    return Ok(events);
                }
            }
        }
        .await;
        // Ephemeral consumers also vanish on their own after the inactive threshold; delete
        // this one now, off the caller's path.
        let stream = self.inner.events.clone();
        tokio::spawn(async move {
            let _ = stream.delete_consumer(&name).await;
        });
        result
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
        // Direct get first; after a rejection, the leader (a lagging replica would
        // otherwise keep handing out the same stale head).
        let mut read = Read::Direct;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let head = self.head(actor_id, &subject, first, read).await?;
            let (expected, current) = head.map_or((0, 0), |h| (h.sequence, h.last_version));
            if first <= current {
                // A conflict seen on a replica is real (versions only grow), but the
                // version it reports may lag: ask the leader for the exact one.
                let current = self
                    .head(actor_id, &subject, first, Read::Leader)
                    .await?
                    .map_or(current, |h| h.last_version.max(current));
                return Err(Self::conflict(actor_id, first, current));
            }
            let message = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers.clone())
                .expected_last_subject_sequence(expected);
            let ack = self
                .inner
                .js
                .send_publish(subject.clone(), message)
                .await
                .map_err(|err| StoreError::backend(actor_id, first, err))?
                .await;
            match ack {
                Ok(_) => return Ok(()),
                // Another writer appended between our read and our write: read again.
                // The next round either conflicts with the newer version or, when the
                // batch is still ahead of it (gaps), writes after it.
                Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => {
                    read = Read::Leader;
                }
                Err(err) => return Err(StoreError::backend(actor_id, first, err)),
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
        let Some(head) = self
            .head(actor_id, &subject, from_version, Read::Leader)
            .await?
        else {
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
        self.read_with_consumer(actor_id, &subject, from_version, head.sequence)
            .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        let subject = self.subject(actor_id, 0)?;
        Ok(self
            .head(actor_id, &subject, 0, Read::Leader)
            .await?
            .map_or(0, |head| head.last_version))
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
                    let stored = codec::snapshot_version(actor_id, &entry.value)?;
                    if stored > version {
                        // Latest = highest version: a lower one never replaces it.
                        return Ok(());
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
