//! What a projection runner drives: a [`ProjectionSink`], where a batch of feed events and
//! the checkpoint after it are committed.
//!
//! Two kinds of sink:
//!
//! - **At least once**, any read model: [`AtLeastOnce`] runs a [`Projection`]'s handler on
//!   each event, then saves the checkpoint in a [`CheckpointStore`]. A crash between the
//!   two replays the batch, so a handler must tolerate seeing an event again (an upsert,
//!   a set, a check of the event id).
//! - **Exactly once**, a read model in the store's own database: the handler gets the
//!   transaction that also advances the checkpoint, so a batch's effects and its
//!   checkpoint commit together or not at all. The SQLite and PostgreSQL crates provide
//!   these sinks (`aether_sqlite::SqliteProjection`, `aether_postgres::PostgresProjection`).
//!
//! The runner itself (catch up, follow live, retry, stop on a handler error, reset, skip)
//! is in `aether-runtime` (`aether::projection`).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{CheckpointStore, FeedError, FeedEvent, FeedItem, Position};

/// The error a projection's handler returns: any error, boxed.
pub type HandlerError = Box<dyn StdError + Send + Sync + 'static>;

/// A read model fed at least once with every event of the feed its filter lets through.
///
/// `E` is what the handler is given: the owned [`FeedEvent`] (the default), or
/// [`Decoded<T>`](crate::Decoded), the projection's own type decoded on the thread that
/// reads the feed ([`FeedDecode`](crate::FeedDecode)), which is the faster way to catch
/// up on a long history.
///
/// ```
/// use std::collections::HashMap;
/// use aether_core::{async_trait, FeedEvent, HandlerError, Position, Projection};
/// # use aether_core::testkit::cases::event;
///
/// /// The latest version of each actor: idempotent, so a batch handled again after a
/// /// crash changes nothing.
/// #[derive(Default)]
/// struct LatestVersions(HashMap<String, i64>);
///
/// #[async_trait]
/// impl Projection for LatestVersions {
///     async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
///         let latest = self.0.entry(event.event.actor_id.clone()).or_default();
///         *latest = (*latest).max(event.event.version);
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut model = LatestVersions::default();
/// let fed = FeedEvent { position: Position::new(1, 0), event: event("Account|1", 3) };
/// model.handle(&fed).await.unwrap();
/// model.handle(&fed).await.unwrap(); // again, as after a crash
/// assert_eq!(model.0["Account|1"], 3);
/// # });
/// ```
#[async_trait]
pub trait Projection<E: FeedItem = FeedEvent>: Send + 'static {
    /// Applies one event to the read model. An error stops the projection at this event
    /// (nothing is skipped); the runner reports the projection, position, actor and event.
    async fn handle(&mut self, event: &E) -> Result<(), HandlerError>;

    /// Empties the read model, before a rebuild from the start of the feed. The default
    /// does nothing.
    async fn reset(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Why committing a batch failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SinkError {
    /// The handler failed on the event at `position`. Nothing of the batch after the last
    /// checkpoint is recorded as handled.
    Handler {
        /// The failed event's position.
        position: Position,
        /// The handler's error.
        source: HandlerError,
    },
    /// The read model's reset failed.
    Reset {
        /// The handler's error.
        source: HandlerError,
    },
    /// The checkpoint or the transaction could not be read or committed; trying again
    /// later may succeed.
    Store(FeedError),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Handler { position, source } => {
                write!(
                    f,
                    "the handler failed on the event at feed position {position}: {source}"
                )
            }
            SinkError::Reset { source } => write!(f, "resetting the read model failed: {source}"),
            SinkError::Store(err) => err.fmt(f),
        }
    }
}

impl StdError for SinkError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SinkError::Handler { source, .. } | SinkError::Reset { source } => Some(&**source),
            SinkError::Store(err) => Some(err),
        }
    }
}

impl From<FeedError> for SinkError {
    fn from(err: FeedError) -> Self {
        SinkError::Store(err)
    }
}

/// Where a projection's batches and checkpoint commit. The runner calls it from one task,
/// one call at a time.
///
/// `E` is the item a batch holds: the owned [`FeedEvent`] (the default), or a
/// [`Decoded<T>`](crate::Decoded) that the runner decodes from the events the store lends
/// ([`EventFeed::visit_feed`](crate::EventFeed::visit_feed)).
#[async_trait]
pub trait ProjectionSink<E: FeedItem = FeedEvent>: Send + 'static {
    /// The position of the last event handled, to resume after (`None`: from the start).
    async fn checkpoint(&mut self, projection: &str) -> Result<Option<Position>, FeedError>;

    /// Handles `events` (in feed order, possibly none) and records `to` (at or after the
    /// last of them) as the checkpoint. Exactly-once sinks do both in one transaction.
    async fn commit(
        &mut self,
        projection: &str,
        events: &[E],
        to: Position,
    ) -> Result<(), SinkError>;

    /// [`commit`](Self::commit) with the batch shared instead of borrowed; the runner
    /// calls this one. The default borrows the batch for `commit`. A sink that hands the
    /// batch to another thread (a blocking database call) overrides it to keep the
    /// `Arc` instead of copying every event.
    async fn commit_shared(
        &mut self,
        projection: &str,
        events: Arc<[E]>,
        to: Position,
    ) -> Result<(), SinkError> {
        self.commit(projection, &events, to).await
    }

    /// Records `to` as the checkpoint without handling anything: skipping events.
    async fn skip_to(&mut self, projection: &str, to: Position) -> Result<(), SinkError>;

    /// Empties the read model and forgets the checkpoint (in one transaction where the
    /// sink has one), so that the projection is rebuilt from the start of the feed.
    async fn reset(&mut self, projection: &str) -> Result<(), SinkError>;
}

/// The at-least-once sink: a [`Projection`] and a [`CheckpointStore`]. Each batch runs the
/// handler on every event, then saves the checkpoint once.
#[derive(Debug)]
pub struct AtLeastOnce<P, C> {
    projection: P,
    checkpoints: C,
}

impl<P, C> AtLeastOnce<P, C> {
    /// A sink that feeds `projection` and keeps its checkpoint in `checkpoints`.
    pub fn new(projection: P, checkpoints: C) -> Self {
        AtLeastOnce {
            projection,
            checkpoints,
        }
    }

    /// The projection (the read model).
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection, mutably.
    pub fn projection_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    /// The projection and the checkpoint store, given back.
    pub fn into_parts(self) -> (P, C) {
        (self.projection, self.checkpoints)
    }
}

#[async_trait]
impl<E, P, C> ProjectionSink<E> for AtLeastOnce<P, C>
where
    E: FeedItem,
    P: Projection<E>,
    C: CheckpointStore,
{
    async fn checkpoint(&mut self, projection: &str) -> Result<Option<Position>, FeedError> {
        self.checkpoints.load_checkpoint(projection).await
    }

    async fn commit(
        &mut self,
        projection: &str,
        events: &[E],
        to: Position,
    ) -> Result<(), SinkError> {
        for event in events {
            self.projection
                .handle(event)
                .await
                .map_err(|source| SinkError::Handler {
                    position: event.position(),
                    source,
                })?;
        }
        self.checkpoints.save_checkpoint(projection, to).await?;
        Ok(())
    }

    async fn skip_to(&mut self, projection: &str, to: Position) -> Result<(), SinkError> {
        self.checkpoints.save_checkpoint(projection, to).await?;
        Ok(())
    }

    async fn reset(&mut self, projection: &str) -> Result<(), SinkError> {
        self.projection
            .reset()
            .await
            .map_err(|source| SinkError::Reset { source })?;
        self.checkpoints.delete_checkpoint(projection).await?;
        Ok(())
    }
}
