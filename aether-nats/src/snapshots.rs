//! [`SnapshotStore`] for [`NatsStore`]: one key per actor in the namespace's key-value
//! bucket, replaced by compare-and-set on the key's revision, never by a lower version.

use std::fmt;

use aether_core::{ActorSnapshot, SnapshotStore, StoreError};
use async_nats::jetstream::kv::{self, Operation};
use async_trait::async_trait;

use crate::codec;
use crate::error::Message;
use crate::store::MAX_WRITE_ATTEMPTS;
use crate::NatsStore;

#[async_trait]
impl SnapshotStore for NatsStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        let key = self.snapshot_key(actor_id, 0)?;
        let entry = self
            .inner
            .snapshots
            .entry(key)
            .await
            .map_err(|err| StoreError::backend(actor_id, 0, err))?;
        match entry {
            Some(entry) if entry.operation == Operation::Put => {
                codec::decode_snapshot(actor_id, &entry.value).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let actor_id = snapshot.actor_id.as_str();
        let version = snapshot.version;
        let key = self.snapshot_key(actor_id, version)?;
        let value: bytes::Bytes = serde_json::to_vec(snapshot)
            .map_err(|err| StoreError::serialization(actor_id, version, err))?
            .into();
        let backend = |err: &dyn fmt::Display| {
            StoreError::backend(actor_id, version, Message(err.to_string()))
        };
        let kv = &self.inner.snapshots;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let entry = kv.entry(key.clone()).await.map_err(|e| backend(&e))?;
            let written = match entry {
                Some(entry) if entry.operation == Operation::Put => {
                    let stored = codec::snapshot_version(actor_id, &entry.value)?;
                    if stored > version {
                        // Latest = highest version: a lower one never replaces it.
                        return Ok(());
                    }
                    match kv.update(&key, value.clone(), entry.revision).await {
                        Ok(_) => true,
                        Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => false,
                        Err(err) => return Err(backend(&err)),
                    }
                }
                // No entry, or a delete marker: create, or update over the marker.
                Some(entry) => match kv.update(&key, value.clone(), entry.revision).await {
                    Ok(_) => true,
                    Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => false,
                    Err(err) => return Err(backend(&err)),
                },
                None => match kv.create(&key, value.clone()).await {
                    Ok(_) => true,
                    Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => false,
                    Err(err) => return Err(backend(&err)),
                },
            };
            if written {
                return Ok(());
            }
        }
        Err(backend(&format!(
            "other writers replaced the snapshot between each of {MAX_WRITE_ATTEMPTS} reads and writes"
        )))
    }
}
