//! Rebuilding an actor from the store: its start (latest snapshot plus the events after
//! it), and the rebuild after a store error or a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use aether_core::{ActorSnapshot, StoreError};

use super::lifecycle::{Actor, Reload};
use super::supervision::panic_message;
use crate::actor::DomainEvent;
use crate::error::{AskError, StartError};
use crate::EventSourced;

impl<A: EventSourced> Actor<A> {
    pub(super) async fn reload_if_needed(&mut self) -> Result<(), AskError<A::Error>> {
        let result = match self.reload {
            Reload::None => return Ok(()),
            // Boxed, like every rare path: the command future stays small.
            Reload::Full => Box::pin(self.rehydrate()).await,
        };
        match result {
            Ok(()) => {
                self.reload = Reload::None;
                Ok(())
            }
            Err(StartError::Store { source, .. }) => Err(AskError::Store {
                actor_id: self.stored_id.to_string(),
                version: self.version,
                source,
            }),
            Err(err) => Err(AskError::StartFailed(Arc::new(err))),
        }
    }

    /// Loads the latest snapshot and the events after it.
    /// The first start, and the rebuild after a store error or a panic.
    pub(super) async fn rehydrate(&mut self) -> Result<(), StartError> {
        let mut state = A::default();
        let mut version = 0;
        if let Some(snapshots) = &self.context.snapshots {
            let snapshot = snapshots
                .get_latest_snapshot(&self.stored_id)
                .await
                .map_err(|err| self.store_failed(0, err))?;
            if let Some(ActorSnapshot {
                version: at,
                state: stored,
                ..
            }) = snapshot
            {
                state = serde_json::from_value(stored).map_err(|err| StartError::Snapshot {
                    actor_id: self.stored_id.to_string(),
                    version: at,
                    reason: err.to_string(),
                })?;
                version = at;
            }
        }
        // The command ids already known stay known: they are all of stored events
        // (an id is recorded only once its events are stored), so a rebuild after a
        // conflict does not read them again. The ids folded into a snapshot the actor
        // had not reached are loaded lazily (see `ids_unknown_through`); those of the
        // tail are recorded as it is applied.
        if self.registry.config.idempotency_window == 0 {
            self.ids_unknown_through = 0;
        } else if version > self.version {
            self.ids_unknown_through = version;
        }
        self.state = state;
        self.version = version;
        self.last_snapshot_version = version;
        self.apply_stored(version.saturating_add(1)).await
    }

    /// Reads events from `from` and applies those after the actor's version; remembers
    /// the command ids of all of them.
    pub(super) async fn apply_stored(&mut self, from: i64) -> Result<(), StartError> {
        let events = self
            .context
            .events
            .get_events(&self.stored_id, from)
            .await
            .map_err(|err| self.store_failed(from, err))?;
        let limits = self.idempotency_limits();
        for stored in &events {
            if stored.version > self.version {
                let event =
                    A::Event::from_data(&stored.event_type, &stored.data).map_err(|err| {
                        StartError::Decode {
                            actor_id: self.stored_id.to_string(),
                            version: stored.version,
                            event_type: stored.event_type.clone(),
                            reason: err.to_string(),
                        }
                    })?;
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.state.apply(&event))) {
                    self.reload = Reload::Full;
                    return Err(StartError::Apply {
                        actor_id: self.stored_id.to_string(),
                        version: stored.version,
                        event_type: stored.event_type.clone(),
                        message: panic_message(&panic),
                    });
                }
                self.version = stored.version;
            }
            if let Some(command_id) = &stored.command_id {
                self.rare()
                    .recent
                    .record(command_id, stored.version, stored.version, None, limits);
            }
        }
        Ok(())
    }

    pub(super) fn store_failed(&self, version: i64, err: StoreError) -> StartError {
        let actor_id = self.stored_id.to_string();
        match err {
            // A record the store cannot decode knows its version better than the
            // version the read started from. Neither it nor refused input heals.
            StoreError::Serialization { version: at, .. } => StartError::Unreadable {
                actor_id,
                version: if at > 0 { at } else { version },
                source: err,
            },
            StoreError::InvalidInput { .. } => StartError::Unreadable {
                actor_id,
                version,
                source: err,
            },
            source => StartError::Store {
                actor_id,
                version,
                source,
            },
        }
    }
}
