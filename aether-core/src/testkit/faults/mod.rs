//! [`FaultyStore`]: a store wrapper that fails, delays, times out or loses the
//! acknowledgement of a chosen share of calls, reproducibly.
//!
//! The operations and kinds of fault are in `ops.rs`, the builder in `builder.rs`, the
//! seeded randomness in `rng.rs`.

mod builder;
mod ops;
mod rng;

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::{ActorSnapshot, Event, EventStore, SnapshotStore, StoreError};

pub use builder::FaultyStoreBuilder;
pub use ops::{FaultKind, FaultStats, InjectedFault, OpFaults, StoreOp};
use rng::{hash_str, SplitMix64};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) calls: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) lost_acks: AtomicU64,
    pub(super) timed_out: AtomicU64,
    pub(super) delayed: AtomicU64,
}

/// A store that passes calls to an inner store, failing, delaying, timing out or losing
/// the acknowledgement of a seeded, reproducible share of them.
///
/// Wrap any [`EventStore`] (and [`SnapshotStore`]) in a [`FaultyStore`] to see how the code
/// above it copes with a backend that misbehaves: a runtime must answer every ask (with a
/// reply or an error), and its actors' state must always equal what the store holds.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aether_core::testkit::{FaultyStore, StoreOp};
/// use aether_core::{EventStore, InMemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(
///     FaultyStore::builder(InMemoryStore::new())
///         .seed(7)
///         .fail(StoreOp::ALL, 0.10)               // 10% of every call fails
///         .lose_ack(StoreOp::SaveEvents, 0.05)    // 5% of appends land, then report failure
///         .delay(StoreOp::ALL, 0.20, Duration::from_millis(1)..Duration::from_millis(3))
///         .timeout(StoreOp::GetEvents, 0.01, Duration::from_millis(20))
///         .build(),
/// );
/// // ... run a runtime over `store` ...
/// store.stop_faults(); // from here on, calls go straight to the inner store
/// assert_eq!(store.get_latest_version("account-1").await.unwrap(), 0);
/// println!("{:?}", store.stats());
/// # });
/// ```
///
/// # What a fault is
///
/// Every call is first (maybe) delayed, then has one outcome:
///
/// - **fail**: [`StoreError::Backend`] whose source is an [`InjectedFault`]; nothing is
///   done.
/// - **lose ack** (writes only: `save_events`, `save_snapshot`): the call is passed to the
///   inner store, and if it succeeded the caller still gets a `Backend` error, as when a
///   connection breaks after the commit. An error of the inner store is returned as is.
/// - **time out**: the call waits for the configured time, then fails like *fail*;
///   nothing is done.
/// - otherwise the call goes to the inner store.
///
/// [`InjectedFault::is_injected`] tells an injected error from a real one.
///
/// # Reproducibility
///
/// A decision is a function of the seed, the operation, the actor, the version (for reads,
/// the version read from) and how many times that same call was made before (a
/// [SplitMix64](https://prng.di.unimi.it/splitmix64.c) hash of them). It does not depend
/// on how tasks are scheduled: the same seed and the same calls per actor give the same
/// faults, whatever the other actors do at the same time.
pub struct FaultyStore<S> {
    pub(super) inner: S,
    pub(super) seed: u64,
    pub(super) faults: [OpFaults; 5],
    pub(super) delay: Range<Duration>,
    pub(super) timeout: Duration,
    pub(super) enabled: AtomicBool,
    /// How many times each (operation, actor, version) call was made.
    pub(super) attempts: Mutex<HashMap<(StoreOp, String, i64), u64>>,
    pub(super) counters: Counters,
}

impl<S: fmt::Debug> fmt::Debug for FaultyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner)
            .field("seed", &self.seed)
            .field("faulting", &self.is_faulting())
            .field("stats", &self.stats())
            .finish()
    }
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    delay: Option<Duration>,
    outcome: Option<FaultKind>,
}

impl<S> FaultyStore<S> {
    /// A builder wrapping `inner`, with no faults until some are configured.
    pub fn builder(inner: S) -> FaultyStoreBuilder<S> {
        FaultyStoreBuilder {
            inner,
            seed: 0,
            faults: [OpFaults::default(); 5],
            delay: Duration::from_millis(1)..Duration::from_millis(5),
            timeout: Duration::from_millis(50),
            enabled: true,
        }
    }

    /// The wrapped store: calls to it are never faulted.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Switches faults (and delays) off: every later call goes straight to the inner store.
    pub fn stop_faults(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    /// Switches faults back on.
    pub fn start_faults(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Whether faults are on.
    pub fn is_faulting(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// The counters so far.
    pub fn stats(&self) -> FaultStats {
        let c = &self.counters;
        FaultStats {
            calls: c.calls.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            lost_acks: c.lost_acks.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
        }
    }

    /// Decides what happens to this call.
    fn plan(&self, op: StoreOp, actor_id: &str, version: i64) -> Plan {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let none = Plan {
            delay: None,
            outcome: None,
        };
        if !self.is_faulting() {
            return none;
        }
        let faults = self.faults[op.index()];
        if faults == OpFaults::default() {
            return none;
        }
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            let n = attempts
                .entry((op, actor_id.to_owned(), version))
                .or_insert(0);
            *n += 1;
            *n
        };
        let mut rng = SplitMix64::new(
            self.seed
                ^ hash_str(actor_id)
                ^ (version as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ ((op.index() as u64) << 56)
                ^ attempt.wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let outcome_draw = rng.next_f64();
        let delay_draw = rng.next_f64();
        let delay_pick = rng.next_f64();
        let delay = (delay_draw < faults.delay).then(|| {
            let (lo, hi) = (self.delay.start, self.delay.end.max(self.delay.start));
            lo + (hi - lo).mul_f64(delay_pick)
        });
        let outcome = if outcome_draw < faults.fail {
            Some(FaultKind::Fail)
        } else if outcome_draw < faults.fail + faults.lose_ack {
            Some(FaultKind::LostAck)
        } else if outcome_draw < faults.fail + faults.lose_ack + faults.timeout {
            Some(FaultKind::Timeout)
        } else {
            None
        };
        Plan { delay, outcome }
    }

    /// Runs the delay and the outcome of a plan around `call`.
    async fn run<T, F>(
        &self,
        op: StoreOp,
        actor_id: &str,
        version: i64,
        call: F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let plan = self.plan(op, actor_id, version);
        if let Some(delay) = plan.delay {
            self.counters.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        let injected = |kind| StoreError::backend(actor_id, version, InjectedFault { op, kind });
        match plan.outcome {
            None => call.await,
            Some(FaultKind::Fail) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(injected(FaultKind::Fail))
            }
            Some(FaultKind::Timeout) => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.timeout).await;
                Err(injected(FaultKind::Timeout))
            }
            Some(FaultKind::LostAck) => {
                let result = call.await;
                match result {
                    Ok(_) => {
                        self.counters.lost_acks.fetch_add(1, Ordering::Relaxed);
                        Err(injected(FaultKind::LostAck))
                    }
                    Err(err) => Err(err),
                }
            }
        }
    }
}

#[async_trait]
impl<S: EventStore> EventStore for FaultyStore<S> {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let (actor_id, version) = events
            .first()
            .map_or(("", 0), |e| (e.actor_id.as_str(), e.version));
        self.run(
            StoreOp::SaveEvents,
            actor_id,
            version,
            self.inner.save_events(events),
        )
        .await
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        self.run(
            StoreOp::GetEvents,
            actor_id,
            from_version,
            self.inner.get_events(actor_id, from_version),
        )
        .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.run(
            StoreOp::GetLatestVersion,
            actor_id,
            0,
            self.inner.get_latest_version(actor_id),
        )
        .await
    }
}

#[async_trait]
impl<S: SnapshotStore> SnapshotStore for FaultyStore<S> {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        self.run(
            StoreOp::GetLatestSnapshot,
            actor_id,
            0,
            self.inner.get_latest_snapshot(actor_id),
        )
        .await
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        self.run(
            StoreOp::SaveSnapshot,
            &snapshot.actor_id,
            snapshot.version,
            self.inner.save_snapshot(snapshot),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_only_on_seed_and_call() {
        let make = |seed| {
            FaultyStore::builder(())
                .seed(seed)
                .fail(StoreOp::ALL, 0.5)
                .build()
        };
        let (a, b, c) = (make(1), make(1), make(2));
        let plans = |s: &FaultyStore<()>| {
            (0..200)
                .map(|v| s.plan(StoreOp::SaveEvents, "x", v % 50).outcome)
                .collect::<Vec<_>>()
        };
        let (pa, pb, pc) = (plans(&a), plans(&b), plans(&c));
        assert_eq!(pa, pb);
        assert_ne!(pa, pc);
        let failed = pa.iter().filter(|o| o.is_some()).count();
        assert!((60..140).contains(&failed), "about half fail: {failed}");
    }
}
