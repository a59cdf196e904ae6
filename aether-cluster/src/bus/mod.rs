//! The cluster's event bus: [`Cluster::subscribe`](crate::Cluster::subscribe) delivers
//! the events persisted by every member's actors, in memory, over core NATS.
//!
//! ```text
//!  member Y: shard runtimes' buses ─▶ pumps ─▶ publisher ─▶ aether.<ns>.bus.<type>
//!                                                                   │ (core NATS)
//!  member X: hub (one NATS subscription) ─▶ broadcast ─▶ ClusterSubscription × n
//! ```
//!
//! A member forwards only while some member has subscribers (see `interest`), so a
//! cluster where nobody subscribes pays nothing for the bus. Pieces: `wire` (subjects
//! and messages), `forward` (the sending side), `subscription` (the receiving side and
//! [`ClusterSubscription`]), `interest` (who wants events, leases).

mod forward;
mod interest;
mod subscription;
mod wire;

pub(crate) use forward::Forwarder;
pub(crate) use interest::Interest;
pub use subscription::ClusterSubscription;
pub(crate) use subscription::Hub;
