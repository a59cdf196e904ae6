//! A store of your own: a `Mutex<HashMap>` that implements aether's store traits and
//! passes the conformance suite (`tests/custom_store.rs` runs it).
//!
//! Run it with `cargo run --example custom_store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aether::{
    async_trait, validate_actor_id, validate_batch, ActorSnapshot, Event, EventStore,
    SnapshotStore, StoreError, VersionConflictError,
};

/// Every actor's events and latest snapshot, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct MapStore {
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    events: HashMap<String, Vec<Event>>,
    snapshots: HashMap<String, ActorSnapshot>,
}

impl MapStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        // A panic while holding the lock cannot leave the maps half-written: every
        // write below is a single push or insert.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl EventStore for MapStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        // Empty batch, one actor, strictly increasing: the checks every store makes.
        let Some(actor_id) = validate_batch(events)? else {
            return Ok(());
        };
        let mut maps = self.lock();
        let history = maps.events.entry(actor_id.to_owned()).or_default();
        let current = history.last().map_or(0, |e| e.version);
        if events[0].version <= current {
            return Err(VersionConflictError {
                actor_id: actor_id.to_owned(),
                attempted_version: events[0].version,
                current_version: current,
            }
            .into());
        }
        history.extend_from_slice(events);
        Ok(())
    }

    async fn get_events(&self, actor_id: &str, from: i64) -> Result<Vec<Event>, StoreError> {
        validate_actor_id(actor_id, from)?;
        let maps = self.lock();
        let history = maps
            .events
            .get(actor_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(history
            .iter()
            .filter(|e| e.version >= from)
            .cloned()
            .collect())
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        validate_actor_id(actor_id, 0)?;
        let maps = self.lock();
        Ok(maps
            .events
            .get(actor_id)
            .and_then(|h| h.last())
            .map_or(0, |e| e.version))
    }
}

#[async_trait]
impl SnapshotStore for MapStore {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        validate_actor_id(actor_id, 0)?;
        Ok(self.lock().snapshots.get(actor_id).cloned())
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        validate_actor_id(&snapshot.actor_id, snapshot.version)?;
        let mut maps = self.lock();
        let keep = maps
            .snapshots
            .get(&snapshot.actor_id)
            .is_some_and(|latest| latest.version > snapshot.version);
        if !keep {
            maps.snapshots
                .insert(snapshot.actor_id.clone(), snapshot.clone());
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), StoreError> {
    let store: Arc<dyn SnapshotStore> = Arc::new(MapStore::default());
    let event = |version| Event {
        id: format!("evt-{version}"),
        event_type: "Noted".into(),
        actor_id: "notebook-1".into(),
        command_id: None,
        version,
        data: serde_json::json!({ "line": version }),
        timestamp: chrono_now(),
    };
    store.save_events(&[event(1), event(2)]).await?;
    let conflict = store.save_event(&event(2)).await.unwrap_err();
    println!("saving version 2 again: {conflict}");
    let events = store.get_events("notebook-1", 1).await?;
    println!(
        "notebook-1 has {} events, latest version {}",
        events.len(),
        store.get_latest_version("notebook-1").await?
    );
    Ok(())
}

fn chrono_now() -> aether::Timestamp {
    std::time::SystemTime::now().into()
}
