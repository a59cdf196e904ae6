//! [`NatsStore`]'s [`CheckpointStore`] impl: one key-value bucket per namespace,
//! `aether_<namespace>_checkpoints`, opened or created on first use (so a namespace made
//! before checkpoints existed needs nothing), key the projection name escaped like an
//! actor id, value the position's `Display` form (`"commit:index"`).

use aether_core::{validate_projection_name, CheckpointStore, FeedError, Position};
use async_nats::jetstream::kv::{self, Operation};
use async_trait::async_trait;

use crate::error::Message;
use crate::NatsStore;

impl NatsStore {
    /// The checkpoint bucket, created if missing (once per store handle).
    async fn checkpoint_bucket(&self, projection: &str) -> Result<&kv::Store, FeedError> {
        let inner = &self.inner;
        inner
            .feed
            .checkpoints
            .get_or_try_init(|| async {
                let layout = &inner.layout;
                let bucket = layout.checkpoint_bucket();
                let config = crate::builder::kv_stream_config(
                    bucket,
                    format!(
                        "aether projection checkpoints of namespace {:?}",
                        layout.namespace()
                    ),
                    inner.feed.replicas(),
                );
                inner
                    .js
                    .get_or_create_stream(config)
                    .await
                    .map_err(|err| checkpoint_error(projection, err))?;
                inner
                    .js
                    .get_key_value(bucket)
                    .await
                    .map_err(|err| checkpoint_error(projection, err))
            })
            .await
    }

    /// The key of a projection's checkpoint.
    fn checkpoint_key(projection: &str) -> Result<String, FeedError> {
        validate_projection_name(projection)?;
        // Names are at most 200 bytes, so at most 600 characters once escaped.
        crate::subject::encode_actor_id(projection).ok_or_else(|| FeedError::InvalidInput {
            reason: format!("the projection name {projection:?} cannot be encoded as a key"),
        })
    }
}

fn checkpoint_error(projection: &str, err: impl std::fmt::Display) -> FeedError {
    FeedError::checkpoint(projection, Message(err.to_string()))
}

#[async_trait]
impl CheckpointStore for NatsStore {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        let key = Self::checkpoint_key(projection)?;
        let bucket = self.checkpoint_bucket(projection).await?;
        let entry = bucket
            .entry(key)
            .await
            .map_err(|err| checkpoint_error(projection, err))?;
        match entry {
            Some(entry) if entry.operation == Operation::Put => {
                let text = std::str::from_utf8(&entry.value).map_err(|err| {
                    checkpoint_error(projection, format!("the stored checkpoint: {err}"))
                })?;
                text.parse::<Position>()
                    .map(Some)
                    .map_err(|err| FeedError::checkpoint(projection, err))
            }
            _ => Ok(None),
        }
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        let key = Self::checkpoint_key(projection)?;
        let bucket = self.checkpoint_bucket(projection).await?;
        bucket
            .put(key, position.to_string().into())
            .await
            .map_err(|err| checkpoint_error(projection, err))?;
        Ok(())
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        let key = Self::checkpoint_key(projection)?;
        let bucket = self.checkpoint_bucket(projection).await?;
        bucket
            .delete(key)
            .await
            .map_err(|err| checkpoint_error(projection, err))
    }
}
