//! Rebuilding an actor from the store: its start (latest snapshot plus the events after
//! it), and the rebuild after a store error or a panic.

use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use aether_core::{ActorSnapshot, EventRef, StoreError};
use tracing::warn;

use super::lifecycle::{Actor, Reload};
use super::supervision::panic_message;
use crate::actor::DomainEvent;
use crate::error::{AskError, StartError};
use crate::idempotency::Limits;
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
        let (state, version, discarded) = self.latest_snapshot().await?;
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
        self.apply_stored(version.saturating_add(1)).await?;
        if let Some(discarded) = discarded {
            // Replace the snapshot nobody can read, once the state has moved past it.
            if self.version > discarded {
                self.last_snapshot_version = 0;
                self.maybe_snapshot();
            }
        }
        Ok(())
    }

    /// The state and version of the latest snapshot, or the empty state at version 0.
    /// A snapshot that no longer decodes (the state type changed shape, or the record is
    /// unreadable) is discarded with a warning: the actor replays its events instead,
    /// and the version of the discarded snapshot is returned beside.
    async fn latest_snapshot(&mut self) -> Result<(A, i64, Option<i64>), StartError> {
        let Some(snapshots) = &self.context.snapshots else {
            return Ok((A::default(), 0, None));
        };
        let timer = crate::obs::timer();
        let read = snapshots.get_latest_snapshot(&self.stored_id).await;
        crate::obs::store_latency(A::ACTOR_TYPE, "read_snapshot", timer);
        let snapshot = match read {
            Ok(snapshot) => snapshot,
            Err(StoreError::Serialization {
                version, reason, ..
            }) => {
                warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version, %reason, "unreadable snapshot discarded; replaying the events");
                return Ok((A::default(), 0, Some(version)));
            }
            Err(err) => return Err(self.store_failed(0, err)),
        };
        let Some(ActorSnapshot { version, state, .. }) = snapshot else {
            return Ok((A::default(), 0, None));
        };
        match A::from_snapshot_state(state) {
            Ok(state) => Ok((state, version, None)),
            Err(err) => {
                warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version, error = %err, "snapshot of an older state shape discarded; replaying the events");
                Ok((A::default(), 0, Some(version)))
            }
        }
    }

    /// Reads events from `from` and applies those after the actor's version; remembers
    /// the command ids of all of them. The store lends each event
    /// ([`EventStore::replay_events`](aether_core::EventStore::replay_events)): nothing is
    /// copied, and a payload kept as JSON text is decoded straight into `A::Event`.
    pub(super) async fn apply_stored(&mut self, from: i64) -> Result<(), StartError> {
        let timer = crate::obs::timer();
        let store = Arc::clone(&self.context.events);
        let stored_id = Arc::clone(&self.stored_id);
        let limits = self.idempotency_limits();
        let mut failed = None;
        let read = store
            .replay_events(
                &stored_id,
                from,
                &mut |stored| match self.apply_one(stored, limits) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(err) => {
                        failed = Some(err);
                        ControlFlow::Break(())
                    }
                },
            )
            .await;
        crate::obs::store_latency(A::ACTOR_TYPE, "read_events", timer);
        read.map_err(|err| self.store_failed(from, err))?;
        failed.map_or(Ok(()), Err)
    }

    /// Replays one lent event: records its command id, and decodes and applies it if it
    /// is after the actor's version.
    fn apply_one(&mut self, stored: EventRef<'_>, limits: Limits) -> Result<(), StartError> {
        if let Some(command_id) = stored.command_id {
            self.rare()
                .recent
                .record(command_id, stored.version, stored.version, None, limits);
        }
        let version = stored.version;
        if version <= self.version {
            return Ok(());
        }
        let decoded = self
            .registry
            .upcasters
            .decode_lent::<A::Event>(stored.event_type, stored.data);
        let event = decoded.map_err(|err| StartError::Decode {
            actor_id: self.stored_id.to_string(),
            version,
            event_type: err.event_type.clone(),
            reason: err.to_string(),
        })?;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.state.apply(&event))) {
            self.reload = Reload::Full;
            return Err(StartError::Apply {
                actor_id: self.stored_id.to_string(),
                version,
                // The stored name (without upcasters), else the name it was read as.
                event_type: if self.registry.upcasters.is_empty() {
                    stored.event_type.to_owned()
                } else {
                    event.event_type().to_owned()
                },
                message: panic_message(&panic),
            });
        }
        self.version = version;
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
