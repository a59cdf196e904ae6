//! Where projections keep their checkpoints ([`CheckpointStore`]).

use async_trait::async_trait;

use super::{FeedError, Position};

/// Where projections keep their checkpoints: the position of the last event each one
/// has handled, by projection name. Stores of this repository keep them beside the
/// events (a table, a key-value bucket), so a checkpoint lives as long as the feed it
/// points into.
///
/// # Cancel safety
///
/// Reads are cancel safe; a dropped save or delete may or may not have taken effect.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// The projection's checkpoint, or `None` if it has none (it starts from the
    /// beginning).
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError>;

    /// Records that the projection has handled every event up to `position`.
    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError>;

    /// Forgets the projection's checkpoint, so that it starts again from the beginning.
    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError>;
}

/// Checks a projection name; stores call it first in every [`CheckpointStore`] method.
///
/// # Errors
///
/// [`FeedError::InvalidInput`] for an empty name or one longer than 200 bytes.
pub fn validate_projection_name(projection: &str) -> Result<(), FeedError> {
    let reason = if projection.is_empty() {
        "a projection name must not be empty".to_owned()
    } else if projection.len() > 200 {
        format!(
            "a projection name may be at most 200 bytes long; this one is {} bytes",
            projection.len()
        )
    } else {
        return Ok(());
    };
    Err(FeedError::InvalidInput { reason })
}
