//! [`ClusterConfig`]: timings and sizes, with their defaults.

use std::time::Duration;

use crate::placement::DEFAULT_SHARD_COUNT;

/// A member's settings. Every member of one cluster must use the same
/// [`shard_count`](Self::shard_count) (checked when joining); the timings may differ but
/// are meant to be equal.
///
/// | Setting | Default | Meaning |
/// |---|---|---|
/// | [`shard_count`](Self::shard_count) | 1,024 | shards actors are hashed into (fixed for the cluster's life) |
/// | [`heartbeat_interval`](Self::heartbeat_interval) | 250 ms | how often a member writes its heartbeat key |
/// | [`failover_timeout`](Self::failover_timeout) | 2 s | bound from a member's last heartbeat to its shards being served elsewhere |
/// | [`ask_timeout`](Self::ask_timeout) | 10 s | how long one routed ask may take in all (retries on a moving shard included) |
/// | [`drain_timeout`](Self::drain_timeout) | 10 s | how long a member waits for a released shard's queued commands |
/// | [`bus_capacity`](Self::bus_capacity) | 4,096 | events a member keeps for its slow [subscribers](crate::Cluster::subscribe) before they lag |
///
/// A member is declared dead once no heartbeat of it was seen for
/// `failover_timeout - 2 × heartbeat_interval` (1.5 s by default): with a heartbeat every
/// 250 ms, the last one came at most 250 ms before the member died, and noticing it,
/// recomputing the placement and starting the actor on its new owner takes the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Shards actors are hashed into (from the actor type and id). Fixed for a cluster:
    /// a member with another count is refused
    /// ([`JoinError::ShardCountMismatch`](crate::JoinError::ShardCountMismatch)).
    pub shard_count: u32,
    /// How often a member writes its heartbeat.
    pub heartbeat_interval: Duration,
    /// The longest time from a member's last heartbeat (it was killed, or cut off) to
    /// its shards being served by the others.
    pub failover_timeout: Duration,
    /// How long one [`ClusterRef::ask`](crate::ClusterRef::ask) may take in all: the
    /// time to find the owner while a shard moves, and the owner's answer.
    pub ask_timeout: Duration,
    /// How long a member handing a shard over (another member joined, or it leaves)
    /// waits for the commands already queued for that shard's actors before it gives the
    /// shard up anyway.
    pub drain_timeout: Duration,
    /// How many events a member keeps for its slow
    /// [`ClusterSubscription`](crate::ClusterSubscription)s: one that falls further behind
    /// is told how many it missed ([`BusError::Lagged`](aether_runtime::BusError::Lagged)).
    pub bus_capacity: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            shard_count: DEFAULT_SHARD_COUNT,
            heartbeat_interval: Duration::from_millis(250),
            failover_timeout: Duration::from_secs(2),
            ask_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            bus_capacity: 4_096,
        }
    }
}

impl ClusterConfig {
    /// Sets [`shard_count`](Self::shard_count) (at least 1).
    pub fn shard_count(mut self, shards: u32) -> Self {
        self.shard_count = shards.max(1);
        self
    }

    /// Sets [`heartbeat_interval`](Self::heartbeat_interval) (at least 10 ms).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets [`failover_timeout`](Self::failover_timeout). It is raised to at least four
    /// heartbeat intervals when the member joins.
    pub fn failover_timeout(mut self, timeout: Duration) -> Self {
        self.failover_timeout = timeout;
        self
    }

    /// Sets [`ask_timeout`](Self::ask_timeout).
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = timeout;
        self
    }

    /// Sets [`drain_timeout`](Self::drain_timeout).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets [`bus_capacity`](Self::bus_capacity) (at least 1).
    pub fn bus_capacity(mut self, events: usize) -> Self {
        self.bus_capacity = events.max(1);
        self
    }

    /// How long a member forwards its events after the last request to (a subscription
    /// on some member asks again every heartbeat interval).
    pub(crate) fn forward_lease(&self) -> Duration {
        self.failover_timeout.max(self.heartbeat_interval * 4) * 2
    }

    /// Silence after which a member is declared dead.
    pub(crate) fn dead_after(&self) -> Duration {
        let failover = self.failover_timeout.max(self.heartbeat_interval * 4);
        failover.saturating_sub(self.heartbeat_interval * 2)
    }
}
