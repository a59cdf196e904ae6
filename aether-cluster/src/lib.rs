//! The cluster layer for aether, on NATS: several processes ("members") share one NATS
//! JetStream store, each actor is live on exactly one of them, and an ask from any member
//! reaches it.
//!
//! ```no_run
//! use aether_cluster::Cluster;
//! # use aether_runtime::{Decision, EventSourced};
//! # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter { n: u64 }
//! # struct Added;
//! # impl aether_runtime::DomainEvent for Added {
//! #     fn event_type(&self) -> &str { "Added" }
//! #     fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> { Ok(serde_json::json!({})) }
//! #     fn from_data(_: &str, _: &serde_json::Value) -> Result<Self, aether_runtime::EventDecodeError> { Ok(Added) }
//! # }
//! # #[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)] #[error("never")] struct Never;
//! # impl EventSourced for Counter {
//! #     const ACTOR_TYPE: &'static str = "Counter";
//! #     type Command = (); type Event = Added; type Reply = u64; type Error = Never;
//! #     fn decide(&self, _: &()) -> Result<Decision<Added, u64>, Never> { Ok(Decision::new(vec![Added], self.n + 1)) }
//! #     fn apply(&mut self, _: &Added) { self.n += 1 }
//! # }
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect("nats://127.0.0.1:4222", "shop", "node-1")
//!     .await?
//!     .register::<Counter>()
//!     .join()
//!     .await?;
//! // Any member: the ask goes to the counter's one owner.
//! let n = cluster.actor::<Counter>("visits").ask(()).await?;
//! println!("visit {n}");
//! cluster.leave().await; // hands this member's shards over first
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! **Membership.** Each member writes a heartbeat, the key `members.<node>` of the
//! namespace's key-value bucket `aether_<ns>_members`, every
//! [`heartbeat_interval`](ClusterConfig::heartbeat_interval) (250 ms), and watches the
//! others' keys. A member not heard from for `failover_timeout - 2 × heartbeat_interval`
//! (1.5 s of the default 2 s) is dead, on each member's own clock (no clocks are
//! compared across machines). A node id already in use is detected when joining: the key
//! exists (`create` fails) and its heartbeat keeps changing; a key whose heartbeat has
//! stopped (a killed process restarting under its id) is taken over with a
//! revision-checked `update`. The bucket's `max_age` removes a dead member's key later
//! (per-key TTLs need nats-server 2.11; this works on 2.9). The shard count is written
//! once, with `create`, to the bucket `aether_<ns>_cluster`; a member with another count
//! is refused.
//!
//! **Placement.** An actor's shard is a stable hash of its type and id modulo
//! [`shard_count`](ClusterConfig::shard_count) (1,024). A shard's owner is chosen among
//! the *placed* members by rendezvous (highest-random-weight) hashing, so every member
//! computes the same owner from the same member set with no leases to write, and a
//! member joining or leaving moves only the shards it gains or loses (about `1/n`).
//!
//! **Routing.** [`ClusterRef::ask`] computes the owner: this member, a local call to the
//! shard's runtime (no serialization); another, a NATS request to
//! `aether.<ns>.cluster.<node>` carrying the actor type, id, command id and the command
//! as JSON, answered with the reply, the domain error, or a runtime failure. An owner
//! that no longer serves the shard answers "moved", and the ask waits for the next view
//! and asks the new owner, within the [`ask_timeout`](ClusterConfig::ask_timeout) (10 s).
//! Every command carries a command id (the caller's or a fresh one); see below.
//!
//! **Handover.** Each served shard has a [`Runtime`](aether_runtime::Runtime) of its own
//! on its owner. A joining member is placed only once every active member has
//! *acknowledged* it in its heartbeat, and a member acknowledges only after handing over
//! the shards the joiner takes from it: it stops taking their commands (answering
//! "moved"), executes and answers those already queued, and stops their actors (the
//! shard runtime's `shutdown`). So the old owner has finished before the new owner starts
//! an actor (lazily, on its first command, rehydrating from the store); a shard that comes
//! back to a member while its old runtime still drains waits for the drain. A member that
//! [leaves](Cluster::leave) does the same for all its shards before deleting its key,
//! then answers "moved" for one more heartbeat interval and every request it took before
//! it unsubscribes; a request to it that still got no answer was never taken, and is sent
//! again (same command id) to the new owner. A graceful join or leave fails no ask.
//!
//! **Failover.** A member killed with SIGKILL stops heartbeating; 1.5 s after its last
//! heartbeat, or up to one heartbeat interval later (a member looks on each tick), the others
//! drop it from the placement and its shards' actors start on their new owners at their
//! next command: within the 2 s [`failover_timeout`](ClusterConfig::failover_timeout) of
//! its last heartbeat (measured with member processes and SIGKILL: 1.49 s median, 1.71 s
//! at most from the kill to the first answer, BENCHMARKS.md). An ask in flight to it ends with
//! [`ClusterAskError::Unreachable`] as soon as it is declared dead (never a hang), naming
//! the command id: asked again with that id, the command is applied at most once, since
//! the new owner reads the command ids of the actor's recent events back from the store
//! ([`idempotency_window`](aether_runtime::ActorConfig::idempotency_window)).
//!
//! # Failure cases
//!
//! The store's version check is the safety net: each save states the version it
//! expects, so two members holding one actor at once cost a version conflict (the loser
//! rebuilds from the store and decides again, or answers
//! [`ClusterAskError::Conflict`]), never a lost or doubled event. Two owners can happen:
//!
//! - **A slow or partitioned member.** A member whose heartbeats do not get through is
//!   declared dead by the others while it may still run. It stops serving (answers
//!   "moved") as soon as its own heartbeats have failed for nearly the dead-after time,
//!   so the overlap is short, but a command it had already started can race the new
//!   owner: a conflict.
//! - **Views in flux.** Members see heartbeats at slightly different times; for a moment
//!   two members may each route a shard to a different owner. Joins are safe (the
//!   joiner serves nothing until acknowledged); a member declared dead on one member and
//!   not yet on another is the case above.
//! - **A retried command id** is applied at most once within the idempotency window,
//!   on any member. Its first reply is kept only on the member that applied it; elsewhere
//!   the retry answers [`ClusterAskError::Duplicate`] (the versions it produced).
//! - **NATS itself** (the server, or a JetStream cluster) is a single dependency: while a
//!   member cannot reach it, that member serves nothing and its asks fail or wait.
//!
//! # Events
//!
//! [`Cluster::subscribe`] gives a [`ClusterSubscription`]: the events persisted by the
//! actors of every member (this one's and the others'), after the store accepted them,
//! in memory and within milliseconds, like the runtime's in-process bus (whose
//! `Runtime::subscribe` sees only its own process's shard runtimes). It takes the same
//! [`SubscriptionFilter`](aether_runtime::SubscriptionFilter) and yields the same
//! [`Published`](aether_runtime::Published) and
//! [`BusError`](aether_runtime::BusError):
//!
//! ```no_run
//! # #[allow(dead_code)]
//! # async fn demo(cluster: aether_cluster::Cluster) -> Result<(), Box<dyn std::error::Error>> {
//! use aether_runtime::SubscriptionFilter;
//! let mut added = cluster.subscribe(SubscriptionFilter::event_type("Added")).await?;
//! while let Ok(published) = added.recv().await {
//!     println!("{} {} v{}", published.actor_type, published.id, published.event.version);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! While some member has a subscription, every member sends what its shard runtimes
//! publish to core NATS, one message per run of one actor's events, on
//! `aether.<ns>.bus.<actor type>` (outside the store's stream: nothing is kept), and each
//! member with subscriptions reads those subjects once and hands the events to all of
//! them. Members forward only on request: a subscribing member asks every heartbeat
//! interval, and a member stops forwarding twice the failover timeout after the last
//! request, so a cluster where nobody subscribes pays nothing per command for the bus.
//! While someone does, each persisted batch costs its member a copy of the events, one
//! JSON encoding and one NATS publish, and each subscribing member decodes every event.
//! `subscribe` returns once every placed member has confirmed that it forwards; a member
//! that joins later asks as it joins, before it serves anything, whether anyone
//! subscribes (and hears it again within a heartbeat interval).
//!
//! What is guaranteed:
//!
//! - **Each actor's order.** An actor's events arrive in the order it persisted them,
//!   also across a graceful handover (the old owner has passed the actor's last events
//!   to NATS before the new owner may start it).
//! - **No silent gap.** A subscriber that falls more than
//!   [`bus_capacity`](ClusterConfig::bus_capacity) behind, and events lost on their way
//!   (a forwarding member's runtime bus lagging, a reconnect), end in
//!   [`BusError::Lagged`](aether_runtime::BusError::Lagged) with the count of what was
//!   missed (each member numbers what it forwards; a jump is counted), then events go on.
//!   A loss on the way is noticed with the next event from the same member.
//! - **At most once across a member crash.** Events a member had persisted but not yet
//!   sent when it was killed are not delivered, nor those of a member that heard no
//!   subscriber's request for the whole lease (cut off from NATS for seconds) and
//!   stopped forwarding meanwhile: they are in the store, where the feed
//!   and `aether_runtime::bus::DurableSubscription` (which see every member's events,
//!   and resume from a position) find them. Use those when every event must be handled.
//! - **No total order across actors**: events of different actors, above all of actors
//!   on different members, may arrive in any order.
//! - **Registered types only**: events of an actor type this member has not
//!   [registered](ClusterBuilder::register) are skipped by its subscriptions (its
//!   `ACTOR_TYPE` is what [`Published::actor_type`](aether_runtime::Published) names).
//!
//! Namespaces keep clusters apart: the buckets, subjects (the bus's too) and store of
//! namespace `a` are not those of `b`.
//!
//! # Files
//!
//! `cluster.rs` ([`Cluster`], [`ClusterBuilder`]), `serve.rs` (answering the requests
//! routed to this member), `config.rs`
//! ([`ClusterConfig`]), `error.rs` ([`JoinError`], [`ClusterAskError`],
//! [`SubscribeError`]), `placement.rs` ([`shard_of`], [`owner_of`]), `membership.rs`
//! (heartbeat records and who is placed, pure), `member.rs` (the buckets, claiming a node id, the heartbeat loop), `host.rs`
//! (the owner's side: shard runtimes, handover), `router.rs` ([`ClusterRef`]),
//! `wire.rs` (the JSON envelopes), `actor_type.rs` ([`ClusterActor`]), `bus/` (the event
//! bus: [`ClusterSubscription`], forwarding, interest).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod actor_type;
mod bus;
mod cluster;
mod config;
mod error;
mod host;
mod member;
mod membership;
mod placement;
mod router;
mod serve;
mod wire;

pub use actor_type::ClusterActor;
pub use bus::ClusterSubscription;
pub use cluster::{Cluster, ClusterBuilder};
pub use config::ClusterConfig;
pub use error::{ClusterAskError, FailureKind, JoinError, SubscribeError};
pub use member::{bucket_names, delete_buckets};
pub use placement::{owner_of, shard_of, DEFAULT_SHARD_COUNT};
pub use router::ClusterRef;
