//! Read cursors: ephemeral pull consumers kept where a reader stopped, so that reading a
//! long feed page after page costs one pull request per page, not a consumer per page;
//! and the page read itself.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use aether_core::{actor_type_of, FeedError, FeedEvent, FeedFilter, FeedPage, Position};
use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use futures::StreamExt;

use super::{backend, header_u64};
use crate::codec;
use crate::NatsStore;

/// At most this many read cursors (pull consumers positioned where a reader stopped) are
/// kept per store handle; the least recently used goes first.
const MAX_CURSORS: usize = 32;
/// The server deletes a cursor's consumer after this long without a pull request.
const CURSOR_INACTIVE_THRESHOLD: Duration = Duration::from_secs(300);
/// A cursor unused for this long is not reused (its consumer may be about to go).
const CURSOR_MAX_IDLE: Duration = Duration::from_secs(120);
/// At most this many messages per pull request.
pub(super) const MAX_FETCH: usize = 1024;
/// A read that has looked at this many messages without filling its page returns what it
/// has, with `next` past them, so that one call never scans the whole stream.
const MAX_SCAN: usize = 8192;

/// A stored message of the events stream, as a read got it.
pub(super) struct Raw {
    pub(super) sequence: u64,
    pub(super) subject: Subject,
    pub(super) headers: Option<HeaderMap>,
    pub(super) payload: Bytes,
}

/// An ephemeral pull consumer left where a read stopped, and the messages it delivered
/// that the read did not use (in stream order). Kept under the page's `next`, so that the
/// next read after that position goes on with it instead of making a consumer.
pub(super) struct Cursor {
    consumer: PullConsumer,
    pub(super) pending: VecDeque<Raw>,
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
pub(super) enum ReadFailure {
    /// The backend failed: the cursor is unusable (it may have consumed messages nobody
    /// got), a fresh one may work.
    Backend(FeedError),
    /// The data is bad: reading again fails the same way.
    Data(FeedError),
}

impl NatsStore {
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
    pub(super) async fn pull(
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

    /// A cursor on a new consumer delivering the stream from sequence `start` on (only
    /// the headers when `headers_only`).
    pub(super) async fn new_cursor(
        &self,
        start: u64,
        headers_only: bool,
        after: Position,
    ) -> Result<Cursor, FeedError> {
        let consumer = self.consumer_from(start, headers_only, after).await?;
        Ok(Cursor {
            consumer,
            pending: VecDeque::new(),
            connects: self.connects(),
            last_used: Instant::now(),
            js: self.inner.js.clone(),
            stream: self.inner.layout.events_stream().to_owned(),
        })
    }

    /// How many times the client has connected (a reconnect may lose consumers).
    fn connects(&self) -> u64 {
        self.inner
            .client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A cursor for reading after `after`: the one kept there if it is still good, else a
    /// new consumer from `after`'s message on. The flag says whether it was kept.
    pub(super) async fn cursor_at(&self, after: Position) -> Result<(Cursor, bool), FeedError> {
        let connects = self.connects();
        let kept = self.cursors().remove(&after);
        if let Some(cursor) = kept {
            if cursor.connects == connects && cursor.last_used.elapsed() < CURSOR_MAX_IDLE {
                return Ok((cursor, true));
            }
        }
        Ok((self.new_cursor(after.commit(), false, after).await?, false))
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
    pub(super) fn keep_cursor(&self, at: Position, mut cursor: Cursor) {
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
    pub(super) async fn read_with(
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
                        FeedError::undecodable(Position::new(raw.sequence, 0), err),
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

    /// A new cursor from `after`'s message on, ignoring any kept one.
    pub(super) async fn cursor_at_fresh(
        &self,
        after: Position,
    ) -> Result<(Cursor, bool), FeedError> {
        drop(self.cursors().remove(&after));
        self.cursor_at(after).await
    }
}
