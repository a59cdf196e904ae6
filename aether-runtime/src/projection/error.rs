//! [`ProjectionError`]: why a projection stopped, or why a request to it failed.

use std::error::Error as StdError;
use std::sync::Arc;

use aether_core::{FeedError, Position};

/// Why a projection stopped, or why a request to its runner failed. Cheap to clone (the
/// sources are shared).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The handler failed on one event. The projection stopped there; nothing after its
    /// checkpoint is recorded as handled. Fix the cause and
    /// [`resume`](super::ProjectionHandle::resume), or
    /// [`skip_failed`](super::ProjectionHandle::skip_failed) to never handle this event.
    #[error(
        "projection {projection:?} stopped at feed position {position}: its handler failed \
         on event {event_type:?} (id {event_id}) of actor {actor_id:?} at version {version}: \
         {source}; fix the cause and call resume(), or skip_failed() to skip this event"
    )]
    Handler {
        /// The projection.
        projection: String,
        /// The failed event's position in the feed.
        position: Position,
        /// The failed event's actor.
        actor_id: String,
        /// The failed event's version.
        version: i64,
        /// The failed event's type.
        event_type: String,
        /// The failed event's id.
        event_id: String,
        /// The handler's error.
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The feed holds something the projection cannot read (an undecodable row); reading
    /// again will not help. [`skip_failed`](super::ProjectionHandle::skip_failed) skips
    /// it when the error names a position.
    #[error("projection {projection:?} stopped: {source}")]
    Feed {
        /// The projection.
        projection: String,
        /// The feed's error.
        source: FeedError,
    },
    /// Emptying the read model for a rebuild failed; the checkpoint was not forgotten.
    #[error("projection {projection:?} could not be reset: {source}")]
    Reset {
        /// The projection.
        projection: String,
        /// The handler's error.
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The sink failed in a way that is not the handler's nor transient (a checkpoint
    /// it cannot write, a transaction it cannot open for good).
    #[error("projection {projection:?} stopped: its sink failed: {source}")]
    Sink {
        /// The projection.
        projection: String,
        /// The sink's error.
        source: Arc<aether_core::SinkError>,
    },
    /// The request needs a failed projection (`resume`, `skip_failed`), and this one is
    /// not failed.
    #[error("projection {projection:?} is not stopped on an error; there is nothing to {request}")]
    NotFailed {
        /// The projection.
        projection: String,
        /// What was asked.
        request: &'static str,
    },
    /// The projection's task has ended (it was stopped, or its runtime shut down).
    #[error("projection {projection:?} is not running")]
    NotRunning {
        /// The projection.
        projection: String,
    },
}

impl ProjectionError {
    /// The projection this error concerns.
    pub fn projection(&self) -> &str {
        match self {
            ProjectionError::Handler { projection, .. }
            | ProjectionError::Feed { projection, .. }
            | ProjectionError::Reset { projection, .. }
            | ProjectionError::Sink { projection, .. }
            | ProjectionError::NotFailed { projection, .. }
            | ProjectionError::NotRunning { projection } => projection,
        }
    }

    /// The feed position of the event the projection stopped at, when there is one.
    pub fn position(&self) -> Option<Position> {
        match self {
            ProjectionError::Handler { position, .. } => Some(*position),
            ProjectionError::Feed {
                source: FeedError::Serialization { position, .. },
                ..
            } => Some(*position),
            _ => None,
        }
    }
}
