//! Projections: read models fed from a store's [feed](aether_core::EventFeed), kept
//! up to date by a runner task that catches up from a durable checkpoint, then follows
//! new events live.
//!
//! # Running one
//!
//! Write a [`Projection`] (a handler per event), wrap it in a sink that says where its
//! checkpoint commits, and [`spawn`] it:
//!
//! - [`AtLeastOnce`]: any read model; the checkpoint is saved in a
//!   [`CheckpointStore`](aether_core::CheckpointStore) (every store of this repository
//!   is one) after each batch. After a crash the last batch is handled again, so the
//!   handler must tolerate an event it has already seen.
//! - Exactly once: a read model in the store's own database, written in the transaction
//!   that also advances the checkpoint: `aether_sqlite::SqliteProjection`,
//!   `aether_postgres::PostgresProjection`.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use aether_core::{AtLeastOnce, EventStore, FeedEvent, HandlerError, InMemoryStore, Projection};
//! use aether_runtime::projection::{self, ProjectionOptions};
//! # use aether_core::testkit::cases::event;
//!
//! /// Events per actor, shared with whoever reads the model.
//! #[derive(Clone, Default)]
//! struct Counts(Arc<Mutex<HashMap<String, u64>>>);
//!
//! #[aether_core::async_trait]
//! impl Projection for Counts {
//!     async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
//!         *self.0.lock().unwrap().entry(event.event.actor_id.clone()).or_default() += 1;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(InMemoryStore::new());
//! store.save_event(&event("Account|1", 1)).await.unwrap();
//!
//! let counts = Counts::default();
//! let sink = AtLeastOnce::new(counts.clone(), store.clone());
//! let running = projection::spawn("counts", store.clone(), sink, ProjectionOptions::default());
//! running.wait_for_head().await.unwrap(); // caught up with the feed
//! assert_eq!(counts.0.lock().unwrap()["Account|1"], 1);
//! running.stop().await;
//! # });
//! ```
//!
//! # What the runner does
//!
//! - **Batches**: it reads the feed in pages of [`ProjectionOptions::batch_size`] events
//!   (default 4,096) and hands each page to the sink in one call: one transaction per
//!   page for exactly-once sinks, one checkpoint save per page for at-least-once ones.
//!   While catching up it reads the next page while the sink commits the current one.
//! - **Transient errors** (the feed's or the checkpoint's backend failing) are retried
//!   with exponential backoff ([`ProjectionOptions::retry_backoff`], 100 ms doubling to
//!   30 s by default), forever; the status shows [`ProjectionPhase::Retrying`] meanwhile.
//! - **A handler error stops the projection** at that event, nothing skipped: the phase
//!   becomes [`ProjectionPhase::Failed`] with a [`ProjectionError::Handler`] naming the
//!   projection, the position, the actor, the version and the event type. Then either
//!   fix the cause and [`resume`](ProjectionHandle::resume) (the batch is handled
//!   again from the checkpoint), or [`skip_failed`](ProjectionHandle::skip_failed) (the
//!   checkpoint moves past the failed event, which is never handled).
//! - **Rebuild**: [`reset`](ProjectionHandle::reset) empties the read model
//!   ([`Projection::reset`]) and forgets the checkpoint, then the projection catches up
//!   from the start. Other projections are not touched: each runs in its own task.
//! - **Progress**: [`status`](ProjectionHandle::status) gives the phase, the checkpoint,
//!   the events handled and the lag (events of the feed after the checkpoint); with the
//!   `metrics` feature the gauge `aether_projection_lag{projection}` and the counter
//!   `aether_projection_events_total{projection}` follow it.
//!
//! # Catching up fast
//!
//! A [`Projection`] of [`FeedEvent`](aether_core::FeedEvent)s gets an owned copy of
//! every event: four strings and the payload parsed into a `serde_json::Value`, made on
//! the thread that reads the feed and freed on the one that handles. Over millions of
//! events that copy is most of the work. To skip it, decode only what the model needs:
//! implement [`FeedDecode`] for a type of your own and handle [`Decoded<T>`] items
//! (`impl Projection<Decoded<T>>`). The runner then reads the feed with
//! [`visit_feed`](aether_core::EventFeed::visit_feed): the store lends each event (on
//! SQLite, the row itself, its payload as JSON text) to `T::decode` on the reading
//! thread. A decode error stops the projection like a handler error, naming the event.
//!
//! ```
//! use std::sync::Arc;
//! use aether_core::{
//!     async_trait, AtLeastOnce, EventRef, EventStore, HandlerError, InMemoryStore,
//! };
//! use aether_runtime::projection::{self, Decoded, FeedDecode, Projection, ProjectionOptions};
//! # use aether_core::testkit::cases::event;
//!
//! /// All a total needs of an event.
//! struct Amount(i64);
//!
//! impl FeedDecode for Amount {
//!     fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
//!         #[derive(serde::Deserialize)]
//!         struct Data {
//!             #[serde(default)]
//!             amount: i64,
//!         }
//!         Ok(Amount(event.data.decode::<Data>()?.amount))
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Total(i64);
//!
//! #[async_trait]
//! impl Projection<Decoded<Amount>> for Total {
//!     async fn handle(&mut self, event: &Decoded<Amount>) -> Result<(), HandlerError> {
//!         self.0 += event.event.0;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(InMemoryStore::new());
//! let mut deposit = event("Account|1", 1);
//! deposit.data = serde_json::json!({"amount": 25});
//! store.save_event(&deposit).await.unwrap();
//!
//! let sink = AtLeastOnce::new(Total::default(), store.clone());
//! let running = projection::spawn("total", store.clone(), sink, ProjectionOptions::default());
//! running.wait_for_head().await.unwrap();
//! assert_eq!(running.stop().await.projection().0, 25);
//! # });
//! ```
//!
//! A type that implements `Projection` for both item types needs the item named:
//! `projection::spawn::<_, _, Decoded<T>>(..)`.
//!
//! # Process managers
//!
//! A [`ProcessManager`] is a projection whose handler sends commands to actors (order
//! placed → reserve stock). [`spawn_process_manager`] runs one; its [`Commands`] give
//! each command an id derived from the event's id, so that handling an event again after
//! a crash never applies a command twice.
//!
//! # Upcasting
//!
//! The feed gives events as stored. Decode them with the actor type's upcasters to get
//! the current shape: [`decode_event::<A>(&feed_event.event)`](crate::decode_event).

mod error;
mod handle;
mod runner;
mod saga;

use std::sync::Arc;
use std::time::Duration;

pub use aether_core::{AtLeastOnce, Decoded, FeedDecode, Projection, ProjectionSink};
use aether_core::{EventFeed, FeedFilter, FeedItem};
pub use error::ProjectionError;
pub use handle::{ProjectionHandle, ProjectionPhase, ProjectionStatus};
pub use saga::{spawn_process_manager, Commands, ProcessManager, Saga, Sent};

/// How a projection reads the feed and retries.
#[derive(Debug, Clone)]
pub struct ProjectionOptions {
    pub(crate) filter: FeedFilter,
    pub(crate) batch_size: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        ProjectionOptions {
            filter: FeedFilter::all(),
            batch_size: DEFAULT_BATCH_SIZE,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The default of [`ProjectionOptions::batch_size`].
const DEFAULT_BATCH_SIZE: usize = 4_096;

impl ProjectionOptions {
    /// Every event of the feed, batches of 4,096, retries from 100 ms to 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the events `filter` lets through reach the handler (the checkpoint still
    /// moves past the others). Default: all.
    pub fn filter(mut self, filter: FeedFilter) -> Self {
        self.filter = filter;
        self
    }

    /// At most this many events per sink call (one transaction, one checkpoint save).
    /// Default 4,096; 0 is taken as 1.
    ///
    /// Only catching up fills a batch (live, a batch is whatever arrived since the last
    /// one), and there each batch costs a commit: a checkpoint save (an `fsync` on a
    /// durable store) or the exactly-once transaction. Measured on a SQLite file of a
    /// million events, a projection of [`Decoded`] items caught up at 0.55–0.7 times the
    /// rate of a raw scan with batches of 4,096, and at 0.4–0.55 with 1,000
    /// (BENCHMARKS.md, "catch-up"). Smaller batches bound two things: how
    /// many events a crash makes an at-least-once projection handle again (at most one
    /// batch), and how long an exactly-once transaction holds the database's write lock
    /// (on SQLite, appends wait for it: about 3 ms for 4,096 one-row inserts). On
    /// PostgreSQL an open exactly-once transaction also holds back every feed reader of
    /// the database (`aether_postgres`, "Feed"): while such a projection catches up, a
    /// smaller batch keeps the other readers' lag lower.
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// The first wait after a transient error, doubled after each failed attempt up to
    /// `max`. Default 100 ms and 30 s.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff_min = first;
        self.backoff_max = max.max(first);
        self
    }
}

/// Starts projection `name` in a task of its own: it reads `feed` from the sink's
/// checkpoint on, hands the events to `sink` in batches, then follows new events live
/// until [`stop`](ProjectionHandle::stop)ped. Must be called inside a tokio runtime.
///
/// The name identifies the projection's checkpoint: two projections must not share one,
/// and a projection keeps its name across restarts to resume where it was.
///
/// The sink's item type picks how the feed is read: a sink of [`FeedEvent`]s (the
/// default of [`ProjectionSink`]) gets owned events
/// ([`read_feed`](EventFeed::read_feed)); a sink of [`Decoded<T>`] items gets the
/// projection's own type `T`, decoded by [`FeedDecode`] from each event the store lends
/// ([`visit_feed`](EventFeed::visit_feed)) on the thread that reads, which is the faster
/// way to catch up (see "Catching up fast" above).
///
/// [`FeedEvent`]: aether_core::FeedEvent
/// [`Decoded<T>`]: aether_core::Decoded
/// [`FeedDecode`]: aether_core::FeedDecode
pub fn spawn<F, S, E>(
    name: impl Into<String>,
    feed: Arc<F>,
    sink: S,
    options: ProjectionOptions,
) -> ProjectionHandle<S>
where
    F: EventFeed + ?Sized,
    S: ProjectionSink<E>,
    E: FeedItem,
{
    runner::spawn(name.into(), feed, sink, options)
}
