//! The read side of [`NatsStore`]: its [`EventFeed`] impl (positions, paged reads through
//! cached pull consumers, head, lag, wake-ups). Checkpoints are in `checkpoint.rs`.
//!
//! See the crate docs' "Feed" section for the position scheme and why it never skips.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_core::{
    actor_type_of, validate_feed_read, EventFeed, FeedError, FeedEvent, FeedFilter, FeedPage,
    Position, StoreError,
};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, kv};
use async_nats::{HeaderMap, Subject};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{watch, OnceCell};
use tokio::task::AbortHandle;

use crate::codec;
use crate::error::Message;
use crate::NatsStore;

/// How long [`EventFeed::wait_for_events`] waits at most for a wake-up before it returns
/// anyway, unless [`NatsStoreBuilder::feed_poll_interval`](crate::NatsStoreBuilder::feed_poll_interval)
/// says otherwise: 100 ms.
pub const DEFAULT_FEED_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// At most this many read cursors (pull consumers positioned where a reader stopped) are
/// kept per store handle; the least recently used goes first.
const MAX_CURSORS: usize = 32;
/// The server deletes a cursor's consumer after this long without a pull request.
const CURSOR_INACTIVE_THRESHOLD: Duration = Duration::from_secs(300);
/// A cursor unused for this long is not reused (its consumer may be about to go).
const CURSOR_MAX_IDLE: Duration = Duration::from_secs(120);
/// At most this many messages per pull request.
const MAX_FETCH: usize = 1024;
/// A read that has looked at this many messages without filling its page returns what it
/// has, with `next` past them, so that one call never scans the whole stream.
const MAX_SCAN: usize = 8192;

/// The read-side state of one store handle (shared by its clones).
pub(crate) struct FeedState {
    poll_interval: Duration,
    replicas: usize,
    /// Bumped on every message published on the events subjects (seen by the listener)
    /// and after every save of this handle.
    wake: Arc<watch::Sender<u64>>,
    /// The listener task, started by the first `wait_for_events`.
    listener: OnceCell<AbortOnDrop>,
    cursors: Mutex<HashMap<Position, Cursor>>,
    /// The checkpoint bucket, opened (or created) on first use.
    pub(crate) checkpoints: OnceCell<kv::Store>,
}

impl FeedState {
    pub(crate) fn new(poll_interval: Duration, replicas: usize) -> Self {
        FeedState {
            poll_interval,
            replicas,
            wake: Arc::new(watch::channel(0).0),
            listener: OnceCell::new(),
            cursors: Mutex::new(HashMap::new()),
            checkpoints: OnceCell::new(),
        }
    }

    /// Wakes the readers of this handle waiting in `wait_for_events`.
    pub(crate) fn notify(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    pub(crate) fn replicas(&self) -> usize {
        self.replicas
    }
}

/// Aborts the listener task when the store's last handle goes.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A stored message of the events stream, as a read got it.
struct Raw {
    sequence: u64,
    subject: Subject,
    headers: Option<HeaderMap>,
    payload: Bytes,
}

/// An ephemeral pull consumer left where a read stopped, and the messages it delivered
/// that the read did not use (in stream order). Kept under the page's `next`, so that the
/// next read after that position goes on with it instead of making a consumer.
struct Cursor {
    consumer: PullConsumer,
    pending: VecDeque<Raw>,
    /// The client's connection count when the consumer was made: after a reconnect the
    /// server may have lost it, so it is not reused.
    connects: u64,
    last_used: Instant,
    js: jetstream::Context,
    stream: String,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        // The server also deletes it after the inactive threshold; this is only tidier.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (js, stream) = (self.js.clone(), std::mem::take(&mut self.stream));
            let name = self.consumer.cached_info().name.clone();
            runtime.spawn(async move {
                let _ = js.delete_consumer_from_stream(name, stream).await;
            });
        }
    }
}

/// Why a read with a cursor failed.
enum ReadFailure {
    /// The backend failed: the cursor is unusable (it may have consumed messages nobody
    /// got), a fresh one may work.
    Backend(FeedError),
    /// The data is bad: reading again fails the same way.
    Data(FeedError),
}

fn backend(after: Position, err: impl fmt::Display) -> FeedError {
    FeedError::backend(after, Message(err.to_string()))
}

/// A [`StoreError::Serialization`] from the codec, as the feed reports it.
fn feed_serialization(position: Position, err: StoreError) -> FeedError {
    match err {
        StoreError::Serialization {
            actor_id,
            version,
            reason,
        } => FeedError::Serialization {
            position,
            actor_id,
            version,
            reason,
        },
        other => FeedError::Serialization {
            position,
            actor_id: String::new(),
            version: 0,
            reason: other.to_string(),
        },
    }
}

fn header_u64(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
    headers?.get(name)?.as_str().trim().parse().ok()
}

fn header_i64(headers: Option<&HeaderMap>, name: &str) -> Option<i64> {
    headers?.get(name)?.as_str().trim().parse().ok()
}

impl NatsStore {
    /// The actor id of a message, from its subject's last token.
    fn message_actor(&self, raw: &Raw) -> Result<String, FeedError> {
        let subject = raw.subject.as_str();
        let token = subject
            .strip_prefix(self.inner.layout.events_prefix())
            .unwrap_or(subject);
        crate::subject::decode_actor_id(token).ok_or_else(|| FeedError::Serialization {
            position: Position::new(raw.sequence, 0),
            actor_id: token.to_owned(),
            version: header_i64(raw.headers.as_ref(), codec::FIRST_VERSION).unwrap_or(0),
            reason: format!(
                "message {} of the events stream is on subject {subject:?}, whose last token \
                 is not an encoded actor id: not an aether event",
                raw.sequence
            ),
        })
    }

    /// How many events a message holds: its `Aether-Event-Count` header, else its payload.
    fn message_event_count(&self, raw: &Raw) -> Result<u64, FeedError> {
        if let Some(count) = header_u64(raw.headers.as_ref(), codec::EVENT_COUNT) {
            return Ok(count);
        }
        let actor_id = self.message_actor(raw)?;
        codec::decode_batch(&actor_id, raw.sequence, raw.headers.as_ref(), &raw.payload)
            .map(|events| events.len() as u64)
            .map_err(|err| feed_serialization(Position::new(raw.sequence, 0), err))
    }

    /// The stream's last sequence (0 when it is empty), from the stream leader.
    async fn last_sequence(&self, after: Position) -> Result<u64, FeedError> {
        let info = self
            .inner
            .events
            .get_info()
            .await
            .map_err(|err| backend(after, err))?;
        Ok(info.state.last_sequence)
    }

    /// The message at `sequence`, from the stream leader; `None` if there is none.
    async fn message_at(&self, sequence: u64, after: Position) -> Result<Option<Raw>, FeedError> {
        match self.inner.events.get_raw_message(sequence).await {
            Ok(message) => Ok(Some(Raw {
                sequence: message.sequence,
                subject: message.subject,
                headers: Some(message.headers),
                payload: message.payload,
            })),
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(backend(after, err)),
        }
    }

    /// An ephemeral pull consumer delivering the stream from sequence `start` on.
    async fn consumer_from(
        &self,
        start: u64,
        headers_only: bool,
        after: Position,
    ) -> Result<PullConsumer, FeedError> {
        self.inner
            .events
            .create_consumer(pull::Config {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start.max(1),
                },
                ack_policy: AckPolicy::None,
                headers_only,
                inactive_threshold: CURSOR_INACTIVE_THRESHOLD,
                memory_storage: true,
                ..Default::default()
            })
            .await
            .map_err(|err| backend(after, err))
    }

    /// Pulls up to `want` messages into the cursor. Returns whether the stream may hold
    /// more right now (a full pull whose last message had more pending).
    async fn pull(
        &self,
        cursor: &mut Cursor,
        want: usize,
        after: Position,
    ) -> Result<bool, FeedError> {
        let max_payload = self.inner.client.server_info().max_payload;
        let max_bytes = (16 << 20).max(2 * max_payload);
        let fetch = async {
            let mut batch = cursor
                .consumer
                .fetch()
                .max_messages(want)
                .max_bytes(max_bytes)
                .messages()
                .await
                .map_err(|err| backend(after, err))?;
            let (mut got, mut more) = (0, false);
            // Read to the end of the pull (its last message or the server's "no more"),
            // so that no message is delivered to an inbox nobody reads any more.
            while let Some(message) = batch.next().await {
                let message = message.map_err(|err| backend(after, err))?;
                let info = message.info().map_err(|err| backend(after, err))?;
                let sequence = info.stream_sequence;
                more = info.pending > 0;
                got += 1;
                let message = message.split().0;
                cursor.pending.push_back(Raw {
                    sequence,
                    subject: message.subject,
                    headers: message.headers,
                    payload: message.payload,
                });
            }
            Ok::<_, FeedError>(got == want && more)
        };
        tokio::time::timeout(self.inner.request_timeout, fetch)
            .await
            .map_err(|_| {
                backend(
                    after,
                    format!(
                        "no answer to a pull of the events stream within {:?}",
                        self.inner.request_timeout
                    ),
                )
            })?
    }

    /// A cursor for reading after `after`: the one kept there if it is still good, else a
    /// new consumer from `after`'s message on. The flag says whether it was kept.
    async fn cursor_at(&self, after: Position) -> Result<(Cursor, bool), FeedError> {
        let connects = self
            .inner
            .client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed);
        let kept = self.cursors().remove(&after);
        if let Some(cursor) = kept {
            if cursor.connects == connects && cursor.last_used.elapsed() < CURSOR_MAX_IDLE {
                return Ok((cursor, true));
            }
        }
        let consumer = self.consumer_from(after.commit(), false, after).await?;
        Ok((
            Cursor {
                consumer,
                pending: VecDeque::new(),
                connects,
                last_used: Instant::now(),
                js: self.inner.js.clone(),
                stream: self.inner.layout.events_stream().to_owned(),
            },
            false,
        ))
    }

    fn cursors(&self) -> std::sync::MutexGuard<'_, HashMap<Position, Cursor>> {
        self.inner
            .feed
            .cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `cursor` for the next read after `at`, dropping the least recently used one
    /// when there are too many (the evicted cursors are dropped outside the lock).
    fn keep_cursor(&self, at: Position, mut cursor: Cursor) {
        cursor.last_used = Instant::now();
        let evicted = {
            let mut cursors = self.cursors();
            let replaced = cursors.insert(at, cursor);
            let oldest = if cursors.len() > MAX_CURSORS {
                cursors
                    .iter()
                    .min_by_key(|(_, c)| c.last_used)
                    .map(|(p, _)| *p)
                    .and_then(|p| cursors.remove(&p))
            } else {
                None
            };
            (replaced, oldest)
        };
        drop(evicted);
    }

    /// One page read with `cursor`, which is positioned after `after`.
    async fn read_with(
        &self,
        cursor: &mut Cursor,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, ReadFailure> {
        let want = limit.clamp(16, MAX_FETCH);
        let mut events: Vec<FeedEvent> = Vec::new();
        let mut next = after;
        let mut scanned = 0;
        let mut more = true;
        // Events of a bad message are not returned; the events before it are, and the
        // next read fails on it.
        let fail = |events: &Vec<FeedEvent>, err: FeedError| {
            if events.is_empty() {
                Err(ReadFailure::Data(err))
            } else {
                Ok(())
            }
        };
        while scanned < MAX_SCAN {
            if cursor.pending.is_empty() {
                if !more {
                    break;
                }
                more = self
                    .pull(cursor, want, after)
                    .await
                    .map_err(ReadFailure::Backend)?;
                if cursor.pending.is_empty() {
                    break;
                }
            }
            let Some(raw) = cursor.pending.pop_front() else {
                break;
            };
            scanned += 1;
            // The first event of this message after `after`.
            let first = match raw.sequence.cmp(&after.commit()) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => match after.index().checked_add(1) {
                    Some(first) => first,
                    None => continue,
                },
                std::cmp::Ordering::Greater => 0,
            };
            let actor_id = match self.message_actor(&raw) {
                Ok(actor_id) => actor_id,
                Err(err) => {
                    fail(&events, err)?;
                    cursor.pending.push_front(raw);
                    break;
                }
            };
            let wanted_type = filter.actor_types().is_empty()
                || actor_type_of(&actor_id)
                    .is_some_and(|t| filter.actor_types().iter().any(|w| w == t));
            if !wanted_type {
                // Skipped unread: move past its last event (or past the message when the
                // count is not in its headers).
                let last = header_u64(raw.headers.as_ref(), codec::EVENT_COUNT)
                    .map_or(u64::MAX, |n| n.saturating_sub(1));
                next = next.max(Position::new(raw.sequence, last));
                continue;
            }
            let batch = match codec::decode_batch(
                &actor_id,
                raw.sequence,
                raw.headers.as_ref(),
                &raw.payload,
            ) {
                Ok(batch) => batch,
                Err(err) => {
                    fail(
                        &events,
                        feed_serialization(Position::new(raw.sequence, 0), err),
                    )?;
                    cursor.pending.push_front(raw);
                    break;
                }
            };
            let count = batch.len() as u64;
            for (index, event) in (0..count).zip(batch) {
                if index < first {
                    continue;
                }
                let position = Position::new(raw.sequence, index);
                next = next.max(position);
                if filter.matches(&event) {
                    events.push(FeedEvent { position, event });
                    if events.len() == limit {
                        if index + 1 < count {
                            // The rest of this message comes first in the next read.
                            cursor.pending.push_front(raw);
                        }
                        return Ok(FeedPage { events, next });
                    }
                }
            }
        }
        Ok(FeedPage { events, next })
    }

    /// Starts the listener (once): a core NATS subscription on the events subjects that
    /// bumps the wake-up counter on every message published there, by any process.
    async fn wake_receiver(&self, after: Position) -> Result<watch::Receiver<u64>, FeedError> {
        let feed = &self.inner.feed;
        feed.listener
            .get_or_try_init(|| async {
                let mut subscriber = self
                    .inner
                    .client
                    .subscribe(self.inner.layout.events_subjects())
                    .await
                    .map_err(|err| backend(after, err))?;
                let wake = Arc::clone(&feed.wake);
                let task = tokio::spawn(async move {
                    while subscriber.next().await.is_some() {
                        wake.send_modify(|n| *n = n.wrapping_add(1));
                    }
                });
                Ok::<_, FeedError>(AbortOnDrop(task.abort_handle()))
            })
            .await?;
        Ok(feed.wake.subscribe())
    }

    /// The position of the last event of the message at `sequence` (`sequence:0` when the
    /// message is gone).
    async fn last_position_of(
        &self,
        sequence: u64,
        after: Position,
    ) -> Result<Position, FeedError> {
        Ok(match self.message_at(sequence, after).await? {
            Some(raw) => Position::new(sequence, self.message_event_count(&raw)?.saturating_sub(1)),
            None => Position::new(sequence, 0),
        })
    }

    /// How many events the messages from `start` to `last` (inclusive) hold, counted from
    /// their headers with a headers-only consumer.
    async fn count_events(&self, start: u64, last: u64, after: Position) -> Result<u64, FeedError> {
        let consumer = self.consumer_from(start, true, after).await?;
        let connects = self
            .inner
            .client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut cursor = Cursor {
            consumer,
            pending: VecDeque::new(),
            connects,
            last_used: Instant::now(),
            js: self.inner.js.clone(),
            stream: self.inner.layout.events_stream().to_owned(),
        };
        let mut total = 0u64;
        loop {
            let more = self.pull(&mut cursor, MAX_FETCH, after).await?;
            let mut reached = false;
            while let Some(raw) = cursor.pending.pop_front() {
                if raw.sequence > last {
                    reached = true;
                    break;
                }
                total += match header_u64(raw.headers.as_ref(), codec::EVENT_COUNT) {
                    Some(count) => count,
                    // Not written by aether: the payload tells (headers-only delivery
                    // left it out).
                    None => match self.message_at(raw.sequence, after).await? {
                        Some(full) => self.message_event_count(&full)?,
                        None => 0,
                    },
                };
                reached |= raw.sequence >= last;
            }
            if reached || !more {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl EventFeed for NatsStore {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        validate_feed_read(limit)?;
        let (mut cursor, kept) = self.cursor_at(after).await?;
        let mut result = self.read_with(&mut cursor, after, filter, limit).await;
        if kept && matches!(result, Err(ReadFailure::Backend(_))) {
            // A kept consumer may have been lost by the server: once more, afresh.
            drop(cursor);
            let (fresh, _) = self.cursor_at_fresh(after).await?;
            cursor = fresh;
            result = self.read_with(&mut cursor, after, filter, limit).await;
        }
        match result {
            Ok(page) => {
                self.keep_cursor(page.next, cursor);
                Ok(page)
            }
            Err(ReadFailure::Backend(err) | ReadFailure::Data(err)) => Err(err),
        }
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let last = self.last_sequence(Position::START).await?;
        if last == 0 {
            return Ok(Position::START);
        }
        self.last_position_of(last, Position::START).await
    }

    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let last = self.last_sequence(after).await?;
        if last < after.commit() || last == 0 {
            return Ok(0);
        }
        let mut lag = 0;
        if after.commit() > 0 {
            // The rest of the message `after` is in.
            let head = self.last_position_of(after.commit(), after).await?;
            lag += head.index().saturating_sub(after.index());
        }
        let start = after.commit() + 1;
        if start <= last {
            lag += self.count_events(start, last, after).await?;
        }
        Ok(lag)
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        // Subscribed before looking, so a message stored meanwhile still wakes us.
        let mut wake = self.wake_receiver(after).await?;
        let last = self.last_sequence(after).await?;
        if last > after.commit()
            || (last == after.commit()
                && last > 0
                && self.last_position_of(last, after).await? > after)
        {
            return Ok(());
        }
        let _ = tokio::time::timeout(self.inner.feed.poll_interval(), wake.changed()).await;
        Ok(())
    }
}

impl NatsStore {
    /// A new cursor from `after`'s message on, ignoring any kept one.
    async fn cursor_at_fresh(&self, after: Position) -> Result<(Cursor, bool), FeedError> {
        drop(self.cursors().remove(&after));
        self.cursor_at(after).await
    }
}
