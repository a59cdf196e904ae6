//! What reading the feed or a checkpoint fails with ([`FeedError`]), and the check every
//! feed read starts with ([`validate_feed_read`]).

use std::sync::Arc;

use super::Position;
use crate::BoxError;

/// Everything reading the feed or a checkpoint can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The backend failed (connection lost, I/O, server error); reading again later may
    /// succeed.
    #[error("reading the feed after position {after} failed: {source}")]
    Backend {
        /// The position the read started after.
        after: Position,
        /// The backend's own error.
        source: BoxError,
    },
    /// A stored event could not be decoded into an [`Event`](crate::Event); reading again
    /// will not help. Names the event's actor, version and position.
    #[error(
        "cannot decode the stored event of actor {actor_id:?} at version {version} \
         (feed position {position}): {reason}"
    )]
    Serialization {
        /// The event's position in the feed.
        position: Position,
        /// The event's actor.
        actor_id: String,
        /// The event's version.
        version: i64,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the checkpoint of a projection failed; trying again later may
    /// succeed.
    #[error("the checkpoint of projection {projection:?} could not be read or saved: {source}")]
    Checkpoint {
        /// The projection's name.
        projection: String,
        /// The backend's own error.
        source: BoxError,
    },
    /// The request is malformed (an empty projection name, a limit of 0).
    #[error("invalid feed request: {reason}")]
    InvalidInput {
        /// What is wrong, in words.
        reason: String,
    },
}

impl FeedError {
    /// A [`Serialization`](FeedError::Serialization) error for the stored event at
    /// `position`, from the store's own decoding error: a
    /// [`StoreError::Serialization`](crate::StoreError::Serialization) keeps its actor,
    /// version and reason; any other error keeps its actor, version and text.
    pub fn undecodable(position: Position, err: crate::StoreError) -> Self {
        match err {
            crate::StoreError::Serialization {
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
                actor_id: other.actor_id().to_owned(),
                version: other.version(),
                reason: other.to_string(),
            },
        }
    }

    /// A [`Backend`](FeedError::Backend) error.
    pub fn backend(
        after: Position,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FeedError::Backend {
            after,
            source: Arc::new(source),
        }
    }

    /// A [`Checkpoint`](FeedError::Checkpoint) error.
    pub fn checkpoint(
        projection: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FeedError::Checkpoint {
            projection: projection.into(),
            source: Arc::new(source),
        }
    }

    /// Whether trying again later may succeed (a backend or checkpoint failure), as
    /// opposed to data or a request that will fail the same way again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FeedError::Backend { .. } | FeedError::Checkpoint { .. }
        )
    }
}

/// Checks the arguments every feed read must check; stores call it first.
///
/// # Errors
///
/// [`FeedError::InvalidInput`] for a limit of 0.
pub fn validate_feed_read(limit: usize) -> Result<(), FeedError> {
    if limit == 0 {
        return Err(FeedError::InvalidInput {
            reason: "a feed page must hold at least one event (limit 0)".to_owned(),
        });
    }
    Ok(())
}
