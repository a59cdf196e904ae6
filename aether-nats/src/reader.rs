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
use crate::tails::Tail;
use crate::NatsStore;

/// How many of an actor's batches a read fetches one by one with direct gets before it
/// reads the rest with a pull consumer (one request per batch up to there; a consumer
/// costs its creation and deletion, and streams the rest).
const DIRECT_READS: usize = 32;

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

impl Head {
    /// The tail this head makes.
    pub(crate) fn tail(&self) -> Tail {
        Tail {
            version: self.last_version,
            sequence: self.sequence,
        }
    }
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
        // With one replica the direct get is answered by the leader itself.
        let read = match read {
            Read::Leader if self.inner.single_replica => Read::Direct,
            read => read,
        };
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

    /// Where the actor's subject ends (from [`head`](Self::head)): its last version and
    /// the sequence of its last message, or [`Tail::EMPTY`].
    pub(crate) async fn tail(
        &self,
        actor_id: &str,
        subject: &str,
        version: i64,
        read: Read,
    ) -> Result<Tail, StoreError> {
        Ok(self
            .head(actor_id, subject, version, read)
            .await?
            .map_or(Tail::EMPTY, |head| head.tail()))
    }

    /// The first message on `subject` at or after stream sequence `from`; `None` when
    /// there is none (or a lagging replica does not have it yet).
    async fn next_message_at(
        &self,
        actor_id: &str,
        subject: &str,
        from: u64,
        version: i64,
    ) -> Result<Option<StreamMessage>, StoreError> {
        match self
            .inner
            .events
            .direct_get_next_for_subject(subject, Some(from))
            .await
        {
            Ok(message) => Ok(Some(message)),
            Err(err) if err.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(err) => Err(StoreError::backend(actor_id, version, err)),
        }
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
        let Some(message) = self
            .next_message_at(actor_id, subject, from, version)
            .await?
        else {
            return Ok(None);
        };
        let (_, last) = bounds(actor_id, &message)?;
        Ok(Some((message.sequence, last)))
    }

    /// Where to start reading the actor's batches: a stream sequence at or before its
    /// first batch that holds a version `>= from_version`, and after as many of the
    /// batches wholly below it as a binary search finds in a few direct gets; with that
    /// batch itself when the search read it (the usual case: `from_version` in the first
    /// batch).
    ///
    /// Versions grow with stream sequences, so "the actor's next batch at or after
    /// sequence s reaches `from_version`" is false, then true, as s grows: a binary
    /// search over `[first batch, head]` finds the boundary in log2(head - first) gets.
    /// Short ranges are not searched: streaming them costs less.
    async fn start_at(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        head: u64,
    ) -> Result<(u64, Option<StreamMessage>), StoreError> {
        const WORTH_SEARCHING: u64 = 64;
        let Some(first) = self
            .next_message_at(actor_id, subject, 1, from_version)
            .await?
        else {
            return Ok((1, None));
        };
        let (_, first_last) = bounds(actor_id, &first)?;
        if first_last >= from_version {
            return Ok((first.sequence, Some(first)));
        }
        let first = first.sequence;
        if head.saturating_sub(first) < WORTH_SEARCHING {
            return Ok((first + 1, None));
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
        Ok((lo, None))
    }

    /// Reads the actor's batches that hold versions `>= from_version`, up to and
    /// including `head`, newest first: each message aether stores names the subject's
    /// previous message (the `Nats-Expected-Last-Subject-Sequence` it was published
    /// with, which the server checked), so the walk is one direct get by sequence per
    /// batch, which the server answers without scanning (on nats-server 2.9 "the
    /// subject's next message" scans the stream from the given sequence: with many
    /// actors interleaved, hundreds of messages per get). It stops at the batch that
    /// holds `from_version` or at the subject's first message. A message without that
    /// header (written by another client), or more than [`DIRECT_READS`] batches, leaves
    /// the older part to [`read_forward`](Self::read_forward).
    pub(crate) async fn read_batches(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        head: &Head,
    ) -> Result<Vec<Event>, StoreError> {
        let mut newest_first: Vec<Vec<Event>> = Vec::new();
        let mut message = head.message.clone();
        let mut older_than = None;
        for _ in 0..DIRECT_READS {
            let sequence = message.sequence;
            let (first, last) = bounds(actor_id, &message)?;
            if last >= from_version {
                newest_first.push(events_from(actor_id, &message, from_version)?);
            }
            let previous = previous_sequence(&message);
            if first <= from_version || previous == Some(0) {
                older_than = None;
                break;
            }
            older_than = Some(sequence);
            let Some(previous) = previous else { break };
            message = match self.inner.events.direct_get(previous).await {
                Ok(m) if m.subject.as_str() == subject => m,
                // Not there (a lagging replica) or not ours: read the rest forward.
                Ok(_) => break,
                Err(err) if err.kind() == DirectGetErrorKind::NotFound => break,
                Err(err) => return Err(StoreError::backend(actor_id, from_version, err)),
            };
        }
        let mut events = match older_than {
            Some(sequence) => {
                self.read_forward(actor_id, subject, from_version, sequence - 1)
                    .await?
            }
            None => Vec::new(),
        };
        for batch in newest_first.into_iter().rev() {
            events.extend(batch);
        }
        Ok(events)
    }

    /// Reads the actor's batches that hold versions `>= from_version`, up to and
    /// including stream sequence `until`, oldest first: from where
    /// [`start_at`](Self::start_at) says, one direct get per batch (each answered at once,
    /// off the JetStream API queue), and, past [`DIRECT_READS`] batches, with a
    /// short-lived pull consumer for the rest of a long history.
    async fn read_forward(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        until: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let (mut next, mut pending) = self
            .start_at(actor_id, subject, from_version, until)
            .await?;
        let mut events = Vec::new();
        for _ in 0..DIRECT_READS {
            let message = match pending.take() {
                Some(message) => message,
                None => match self
                    .next_message_at(actor_id, subject, next, from_version)
                    .await?
                {
                    Some(message) => message,
                    // A lagging replica: the consumer below reads from the leader.
                    None => break,
                },
            };
            let sequence = message.sequence;
            if sequence > until {
                return Ok(events);
            }
            let (_, last) = bounds(actor_id, &message)?;
            if last >= from_version {
                events.extend(events_from(actor_id, &message, from_version)?);
            }
            if sequence >= until {
                return Ok(events);
            }
            next = sequence + 1;
        }
        events.extend(
            self.read_with_consumer(actor_id, subject, from_version, next, until)
                .await?,
        );
        Ok(events)
    }

    /// Reads the actor's batches with a short-lived pull consumer, from stream sequence
    /// `start_sequence` up to and including the message at `until`.
    async fn read_with_consumer(
        &self,
        actor_id: &str,
        subject: &str,
        from_version: i64,
        start_sequence: u64,
        until: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let backend = |err: &dyn fmt::Display| {
            StoreError::backend(actor_id, from_version, Message(err.to_string()))
        };
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
                if sequence > until {
                    return Ok(events);
                }
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

/// The stream sequence of the subject's message before this one, from the
/// `Nats-Expected-Last-Subject-Sequence` header aether publishes with (0: none before).
fn previous_sequence(message: &StreamMessage) -> Option<u64> {
    message
        .headers
        .get(async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE)?
        .as_str()
        .trim()
        .parse()
        .ok()
}

/// The first and last versions of the batch a message holds (from its headers, else its
/// payload).
/// The events of a stored batch message from `from_version` on.
fn events_from(
    actor_id: &str,
    message: &StreamMessage,
    from_version: i64,
) -> Result<Vec<Event>, StoreError> {
    let mut batch = codec::decode_batch(
        actor_id,
        message.sequence,
        Some(&message.headers),
        &message.payload,
    )?;
    batch.retain(|e| e.version >= from_version);
    Ok(batch)
}

fn bounds(actor_id: &str, message: &StreamMessage) -> Result<(i64, i64), StoreError> {
    codec::batch_bounds(
        actor_id,
        message.sequence,
        Some(&message.headers),
        &message.payload,
    )
}
