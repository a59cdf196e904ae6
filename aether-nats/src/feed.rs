//! The read side of [`NatsStore`]: its [`EventFeed`] impl (positions, paged reads through
//! cached pull consumers, head, lag, wake-ups). Checkpoints are in `checkpoint.rs`.
//!
//! See the crate docs' "Feed" section for the position scheme and why it never skips.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::{validate_feed_read, EventFeed, FeedError, FeedFilter, FeedPage, Position};
use async_nats::jetstream::kv;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::HeaderMap;
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{watch, OnceCell};
use tokio::task::AbortHandle;

use crate::codec;
use crate::error::Message;
use crate::NatsStore;

mod cursor;

use cursor::{Cursor, Raw, ReadFailure, MAX_FETCH};

/// How long [`EventFeed::wait_for_events`] waits at most for a wake-up before it returns
/// anyway, unless [`NatsStoreBuilder::feed_poll_interval`](crate::NatsStoreBuilder::feed_poll_interval)
/// says otherwise: 100 ms.
pub const DEFAULT_FEED_POLL_INTERVAL: Duration = Duration::from_millis(100);

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

pub(super) fn backend(after: Position, err: impl fmt::Display) -> FeedError {
    FeedError::backend(after, Message(err.to_string()))
}

pub(super) fn header_u64(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
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
            .map_err(|err| FeedError::undecodable(Position::new(raw.sequence, 0), err))
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
        let mut cursor = self.new_cursor(start, true, after).await?;
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
