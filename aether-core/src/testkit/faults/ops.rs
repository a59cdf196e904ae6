//! What [`FaultyStore`](super::FaultyStore) can do to a call: the operations
//! ([`StoreOp`]), the kinds of fault ([`FaultKind`], [`InjectedFault`]), the shares per
//! operation ([`OpFaults`]) and what was done ([`FaultStats`]).

use std::error::Error as StdError;
use std::fmt;

#[allow(unused_imports)] // named by the docs
use super::FaultyStore;
use crate::StoreError;
#[allow(unused_imports)] // named by the docs
use crate::{EventStore, SnapshotStore};

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

    pub(super) fn index(self) -> usize {
        self as usize
    }

    pub(super) fn name(self) -> &'static str {
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
