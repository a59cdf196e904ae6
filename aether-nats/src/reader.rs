//! Reading the events stream for [`NatsStore`]: the newest message of an actor's subject
//! (its head, which writes read too), the binary search for where a read starts, and
//! the short-lived pull consumer that streams an actor's batches.

use std::fmt;
use std::time::Duration;

use aether_core::{Event, StoreError};
use async_nats::jetstream::{
    consumer::{pull, AckPolicy, DeliverPolicy},
    message::StreamMessage,
    stream::{DirectGetErrorKind, LastRawMessageErrorKind},
};
use futures::StreamExt;

use crate::codec;
use crate::error::Message;
use crate::NatsStore;

/// How [`NatsStore::head`] reads.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    Leader,
    Direct,
}

/// The newest message on an actor's subject.
pub(crate) struct Head {
    /// Its stream sequence: what the next write expects as last subject sequence.
    pub(crate) sequence: u64,
    pub(crate) first_version: i64,
    pub(crate) last_version: i64,
    pub(crate) message: StreamMessage,
}

impl NatsStore {
    /// The newest message on the actor's subject.
    ///
    /// [`Read::Leader`] asks the stream leader (a JetStream API request): linearizable,
    /// so a read sees every acknowledged write. [`Read::Direct`] uses direct get, which
    /// the server answers off the API queue (much cheaper under load) but which, on a
    /// replicated stream, a lagging replica may answer; writes use it because the
    /// server's expected-sequence check catches a stale head anyway.
    pub(crate) async fn head(
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
        let (first_version, last_version) = bounds(actor_id, &message)?;
        Ok(Some(Head {
            sequence: message.sequence,
            first_version,
            last_version,
            message,
        }))
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
        let (_, last) = bounds(actor_id, &message)?;
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
    pub(crate) async fn read_with_consumer(
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

/// The first and last versions of the batch a message holds (from its headers, else its
/// payload).
fn bounds(actor_id: &str, message: &StreamMessage) -> Result<(i64, i64), StoreError> {
    codec::batch_bounds(
        actor_id,
        message.sequence,
        Some(&message.headers),
        &message.payload,
    )
}
