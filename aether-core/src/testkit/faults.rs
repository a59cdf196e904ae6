//! [`FaultyStore`]: a store wrapper that fails, delays, times out or loses the
//! acknowledgement of a chosen share of calls, reproducibly.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::{ActorSnapshot, Event, EventStore, SnapshotStore, StoreError};

/// One operation of the store traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// [`EventStore::save_events`] (and `save_event`, which calls it).
    SaveEvents,
    /// [`EventStore::get_events`].
    GetEvents,
    /// [`EventStore::get_latest_version`].
    GetLatestVersion,
    /// [`SnapshotStore::get_latest_snapshot`].
    GetLatestSnapshot,
    /// [`SnapshotStore::save_snapshot`].
    SaveSnapshot,
}

impl StoreOp {
    /// Every operation.
    pub const ALL: [StoreOp; 5] = [
        StoreOp::SaveEvents,
        StoreOp::GetEvents,
        StoreOp::GetLatestVersion,
        StoreOp::GetLatestSnapshot,
        StoreOp::SaveSnapshot,
    ];
    /// The reads.
    pub const READS: [StoreOp; 3] = [
        StoreOp::GetEvents,
        StoreOp::GetLatestVersion,
        StoreOp::GetLatestSnapshot,
    ];
    /// The writes (the only operations whose acknowledgement can be lost).
    pub const WRITES: [StoreOp; 2] = [StoreOp::SaveEvents, StoreOp::SaveSnapshot];

    /// Whether the operation writes.
    pub fn is_write(self) -> bool {
        matches!(self, StoreOp::SaveEvents | StoreOp::SaveSnapshot)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            StoreOp::SaveEvents => "save_events",
            StoreOp::GetEvents => "get_events",
            StoreOp::GetLatestVersion => "get_latest_version",
            StoreOp::GetLatestSnapshot => "get_latest_snapshot",
            StoreOp::SaveSnapshot => "save_snapshot",
        }
    }
}

impl fmt::Display for StoreOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One operation is a set of one, so builder methods take `StoreOp::SaveEvents` as well
/// as `StoreOp::ALL`.
impl IntoIterator for StoreOp {
    type Item = StoreOp;
    type IntoIter = std::iter::Once<StoreOp>;
    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self)
    }
}

/// The kind of an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Failed without doing anything.
    Fail,
    /// The write was done; its acknowledgement was lost.
    LostAck,
    /// Waited, then failed without doing anything.
    Timeout,
}

/// The source of a [`StoreError::Backend`] made by a [`FaultyStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The operation that failed.
    pub op: StoreOp,
    /// How.
    pub kind: FaultKind,
}

impl InjectedFault {
    /// Whether `err` is a backend error injected by a [`FaultyStore`].
    pub fn is_injected(err: &StoreError) -> bool {
        Self::of(err).is_some()
    }

    /// The injected fault behind `err`, if it is one.
    pub fn of(err: &StoreError) -> Option<&InjectedFault> {
        match err {
            StoreError::Backend { source, .. } => {
                let source: &(dyn StdError + 'static) = &**source;
                source.downcast_ref::<InjectedFault>()
            }
            _ => None,
        }
    }
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::Fail => write!(f, "injected failure of {}", self.op),
            FaultKind::LostAck => write!(
                f,
                "injected lost acknowledgement of {} (the write was applied)",
                self.op
            ),
            FaultKind::Timeout => write!(f, "injected timeout of {}", self.op),
        }
    }
}

impl StdError for InjectedFault {}

/// The fault probabilities of one operation, each in `0.0..=1.0`.
///
/// `fail + lose_ack + timeout` is the share of calls that fail; a sum above 1 is capped
/// (fail first, then lose ack, then timeout). `delay` is drawn independently.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpFaults {
    /// Share of calls that fail at once.
    pub fail: f64,
    /// Share of calls applied, then reported failed (writes only; ignored for reads).
    pub lose_ack: f64,
    /// Share of calls that wait the timeout, then fail.
    pub timeout: f64,
    /// Share of calls delayed (by a time drawn from the delay range) before anything else.
    pub delay: f64,
}

/// How many calls a [`FaultyStore`] saw and what it did to them ([`FaultyStore::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Calls made.
    pub calls: u64,
    /// Calls failed at once.
    pub failed: u64,
    /// Writes applied whose acknowledgement was lost.
    pub lost_acks: u64,
    /// Calls that timed out.
    pub timed_out: u64,
    /// Calls delayed.
    pub delayed: u64,
}

impl FaultStats {
    /// Calls that returned an injected error.
    pub fn injected_errors(&self) -> u64 {
        self.failed + self.lost_acks + self.timed_out
    }
}

/// Builds a [`FaultyStore`]; see there for an example.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct FaultyStoreBuilder<S> {
    inner: S,
    seed: u64,
    faults: [OpFaults; 5],
    delay: Range<Duration>,
    timeout: Duration,
    enabled: bool,
}

impl<S> FaultyStoreBuilder<S> {
    /// The seed of the fault decisions (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Fails this share of calls to `ops` at once, without touching the inner store.
    pub fn fail(mut self, ops: impl IntoIterator<Item = StoreOp>, share: f64) -> Self {
        for op in ops {
            self.faults[op.index()].fail = clamp(share);
        }
        self
    }

    /// Applies this share of writes among `ops`, then reports them failed (a lost
    /// acknowledgement). Reads in `ops` are ignored.
    pub fn lose_ack(mut self, ops: impl IntoIterator<Item = StoreOp>, share: f64) -> Self {
        for op in ops.into_iter().filter(|op| op.is_write()) {
            self.faults[op.index()].lose_ack = clamp(share);
        }
        self
    }

    /// Delays this share of calls to `ops` by a time drawn uniformly from `range`.
    pub fn delay(
        mut self,
        ops: impl IntoIterator<Item = StoreOp>,
        share: f64,
        range: Range<Duration>,
    ) -> Self {
        for op in ops {
            self.faults[op.index()].delay = clamp(share);
        }
        self.delay = range;
        self
    }

    /// Makes this share of calls to `ops` wait `after`, then fail without touching the
    /// inner store (a client-side timeout).
    pub fn timeout(
        mut self,
        ops: impl IntoIterator<Item = StoreOp>,
        share: f64,
        after: Duration,
    ) -> Self {
        for op in ops {
            self.faults[op.index()].timeout = clamp(share);
        }
        self.timeout = after;
        self
    }

    /// Sets all the probabilities of one operation at once.
    pub fn op_faults(mut self, op: StoreOp, faults: OpFaults) -> Self {
        self.faults[op.index()] = OpFaults {
            fail: clamp(faults.fail),
            lose_ack: if op.is_write() {
                clamp(faults.lose_ack)
            } else {
                0.0
            },
            timeout: clamp(faults.timeout),
            delay: clamp(faults.delay),
        };
        self
    }

    /// Starts with faults switched off ([`FaultyStore::start_faults`] switches them on).
    pub fn start_stopped(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// Builds the store.
    pub fn build(self) -> FaultyStore<S> {
        FaultyStore {
            inner: self.inner,
            seed: self.seed,
            faults: self.faults,
            delay: self.delay,
            timeout: self.timeout,
            enabled: AtomicBool::new(self.enabled),
            attempts: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }
}

fn clamp(share: f64) -> f64 {
    if share.is_nan() {
        0.0
    } else {
        share.clamp(0.0, 1.0)
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    lost_acks: AtomicU64,
    timed_out: AtomicU64,
    delayed: AtomicU64,
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
    inner: S,
    seed: u64,
    faults: [OpFaults; 5],
    delay: Range<Duration>,
    timeout: Duration,
    enabled: AtomicBool,
    /// How many times each (operation, actor, version) call was made.
    attempts: Mutex<HashMap<(StoreOp, String, i64), u64>>,
    counters: Counters,
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

/// SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): small, fast,
/// and good enough to decide faults.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, mixed through SplitMix64: a stable hash of an actor id (std's hasher is
/// randomly keyed per process, which would break reproducibility).
fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for byte in s.as_bytes() {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    SplitMix64::new(h).next_u64()
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
