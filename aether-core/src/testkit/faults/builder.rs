//! [`FaultyStoreBuilder`]: the shares, delays and seed of a [`FaultyStore`].

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use super::{Counters, FaultyStore, OpFaults, StoreOp};

/// Builds a [`FaultyStore`]; see there for an example.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct FaultyStoreBuilder<S> {
    pub(super) inner: S,
    pub(super) seed: u64,
    pub(super) faults: [OpFaults; 5],
    pub(super) delay: Range<Duration>,
    pub(super) timeout: Duration,
    pub(super) enabled: bool,
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
