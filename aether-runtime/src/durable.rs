//! [`DurableSubscription`]: the bus's subscription that outlives its process, read from a
//! store's feed.

use std::fmt;
use std::sync::Arc;

use aether_core::{follow, CheckpointStore, EventFeed, FeedError, FeedEvent, FeedFilter, Position};
use futures::stream::BoxStream;
use futures::StreamExt;

/// A subscription to persisted events that sees what the in-process bus cannot: events
/// written by other processes, and those written while this one was down.
///
/// It reads the store's [feed](aether_core::EventFeed) from its last acknowledged
/// position (kept under its name in a [`CheckpointStore`]), then follows new events.
/// [`recv`](Self::recv) gives each event after the previous one; [`ack`](Self::ack)
/// records that everything received so far is handled, so that a subscription opened
/// again under the same name starts after it. What was received and not acknowledged
/// is received again: at least once.
///
/// The in-process [`Subscription`](crate::Subscription) stays the low-latency choice
/// inside one process (no store read per event); this one is the reliable one.
///
/// ```
/// use std::sync::Arc;
/// use aether_core::{EventStore, FeedFilter, InMemoryStore};
/// use aether_runtime::bus::DurableSubscription;
/// # use aether_core::testkit::cases::event;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(InMemoryStore::new());
/// store.save_event(&event("Account|1", 1)).await.unwrap();
///
/// let filter = FeedFilter::all().actor_type("Account");
/// let mut audit = DurableSubscription::open("audit", store.clone(), store.clone(), filter.clone())
///     .await
///     .unwrap();
/// let first = audit.recv().await.unwrap();
/// assert_eq!(first.event.actor_id, "Account|1");
/// audit.ack().await.unwrap();
///
/// // Reopened later (another process, after a restart): it starts after the ack.
/// store.save_event(&event("Account|1", 2)).await.unwrap();
/// let mut audit = DurableSubscription::open("audit", store.clone(), store, filter).await.unwrap();
/// assert_eq!(audit.recv().await.unwrap().event.version, 2);
/// # });
/// ```
pub struct DurableSubscription {
    name: String,
    checkpoints: Arc<dyn CheckpointStore>,
    events: BoxStream<'static, Result<FeedEvent, FeedError>>,
    acknowledged: Option<Position>,
    received: Option<Position>,
}

impl fmt::Debug for DurableSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableSubscription")
            .field("name", &self.name)
            .field("acknowledged", &self.acknowledged)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl DurableSubscription {
    /// Opens subscription `name` on `feed`: its events matching `filter` after the
    /// position last acknowledged under this name in `checkpoints` (from the start of the
    /// feed the first time).
    ///
    /// # Errors
    ///
    /// [`FeedError::Checkpoint`] if the acknowledged position cannot be read;
    /// [`FeedError::InvalidInput`] for an empty name.
    pub async fn open<F, C>(
        name: impl Into<String>,
        feed: Arc<F>,
        checkpoints: Arc<C>,
        filter: FeedFilter,
    ) -> Result<Self, FeedError>
    where
        F: EventFeed + ?Sized,
        C: CheckpointStore,
    {
        let name = name.into();
        let acknowledged = checkpoints.load_checkpoint(&name).await?;
        let events = follow(feed, acknowledged.unwrap_or(Position::START), filter, 256);
        Ok(DurableSubscription {
            name,
            checkpoints,
            events,
            acknowledged,
            received: acknowledged,
        })
    }

    /// The subscription's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event, waiting for one to be stored if there is none yet.
    ///
    /// # Errors
    ///
    /// The feed's error. A transient one ([`FeedError::is_transient`]) can be retried by
    /// calling `recv` again, which reads from the same place.
    pub async fn recv(&mut self) -> Result<FeedEvent, FeedError> {
        match self.events.next().await {
            Some(Ok(event)) => {
                self.received = Some(event.position);
                Ok(event)
            }
            Some(Err(err)) => Err(err),
            None => unreachable!("a followed feed never ends"),
        }
    }

    /// Records that every event received so far is handled: a subscription opened again
    /// under this name starts after the last of them.
    ///
    /// # Errors
    ///
    /// [`FeedError::Checkpoint`] if the position cannot be saved (nothing is lost: the
    /// events are received again after a restart).
    pub async fn ack(&mut self) -> Result<(), FeedError> {
        if let Some(position) = self.received {
            if self.acknowledged != Some(position) {
                self.checkpoints
                    .save_checkpoint(&self.name, position)
                    .await?;
                self.acknowledged = Some(position);
            }
        }
        Ok(())
    }

    /// The last acknowledged position (`None`: nothing yet).
    pub fn acknowledged(&self) -> Option<Position> {
        self.acknowledged
    }
}
