//! The snapshot policy: every `snapshot_every` events, written off the command path.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use aether_core::ActorSnapshot;
use tracing::warn;

use super::lifecycle::Actor;
use crate::EventSourced;

impl<A: EventSourced> Actor<A> {
    /// Starts a snapshot write when the version crossed a multiple of the policy and no
    /// other write of this actor is in flight. The write runs in its own task: a slow
    /// snapshot store never delays commands, and a failed write is only traced.
    pub(super) fn maybe_snapshot(&mut self) {
        let (Some(_), Some(every)) = (&self.context.snapshots, self.registry.config.snapshot_every)
        else {
            return;
        };
        let every = i64::try_from(every).unwrap_or(i64::MAX);
        if self.version / every <= self.last_snapshot_version / every {
            return;
        }
        // Only now, on a policy crossing, take a handle on the snapshot store.
        let Some(store) = self.context.snapshots.clone() else {
            return;
        };
        let in_flight = Arc::clone(&self.rare().snapshot_in_flight);
        if in_flight.swap(true, Ordering::AcqRel) {
            return; // the next crossing will take it
        }
        // This crossing is taken even when its snapshot cannot be written: the next try
        // is the next crossing, not the next command.
        self.last_snapshot_version = self.version;
        let state = match self.state.to_snapshot_state() {
            Ok(state) => state,
            Err(err) => {
                in_flight.store(false, Ordering::Release);
                warn!(actor_id = %self.id(), version = self.version, error = %err, "cannot serialize state for a snapshot");
                return;
            }
        };
        if let Err(err) = aether_core::check_payload_depth(&state) {
            // A store would keep it but could not read it back: rehydration replays the
            // events instead, as with no snapshot.
            in_flight.store(false, Ordering::Release);
            warn!(actor_id = %self.id(), version = self.version, error = %err, "state not snapshotted");
            return;
        }
        let snapshot = ActorSnapshot {
            actor_id: self.stored_id.to_string(),
            version: self.version,
            state,
            timestamp: chrono::Utc::now(),
        };
        // Shutdown waits for snapshot writes too.
        let live = self.context.live_token();
        tokio::spawn(async move {
            let timer = crate::obs::timer();
            let saved = store.save_snapshot(&snapshot).await;
            crate::obs::store_latency(A::ACTOR_TYPE, "save_snapshot", timer);
            if let Err(err) = saved {
                warn!(actor_id = %snapshot.actor_id, version = snapshot.version, error = %err, "snapshot write failed");
            }
            in_flight.store(false, Ordering::Release);
            // The store's handle before the token: shutdown returns after both.
            drop(store);
            drop(live);
        });
    }
}
