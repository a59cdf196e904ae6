//! The cluster's errors: [`JoinError`] (becoming a member) and [`ClusterAskError`] (a
//! routed ask), each an enum to match on, naming the node or actor and what to do.

use std::time::Duration;

use aether_runtime::AskError;

/// Joining a cluster failed ([`ClusterBuilder::join`](crate::ClusterBuilder::join)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The store could not connect to NATS (from
    /// [`Cluster::connect`](crate::Cluster::connect)).
    #[error("node {node:?} cannot join: {source}")]
    Connect {
        /// The node id.
        node: String,
        /// The store's connect error (it says what to check).
        source: aether_nats::ConnectError,
    },

    /// A NATS request of the join failed (creating the members' bucket, writing the
    /// heartbeat, subscribing): NATS is unreachable or JetStream is off.
    #[error(
        "node {node:?} cannot join: NATS failed while {doing}: {reason}; check that \
         nats-server is running with JetStream and reachable from here"
    )]
    Nats {
        /// The node id.
        node: String,
        /// What the member was doing.
        doing: &'static str,
        /// The client's message.
        reason: String,
    },

    /// Another live member already uses this node id (its heartbeat kept coming while
    /// this one waited for it to stop).
    #[error(
        "node id {node:?} is in use by a live member of cluster {namespace:?}; give each \
         member its own node id, or stop the other member first"
    )]
    NodeIdInUse {
        /// The node id.
        node: String,
        /// The cluster's namespace.
        namespace: String,
    },

    /// The cluster was created with another shard count.
    #[error(
        "node {node:?} uses {ours} shards but cluster {namespace:?} uses {theirs}; every \
         member must use the same shard count (set `ClusterConfig::shard_count` to {theirs})"
    )]
    ShardCountMismatch {
        /// The node id.
        node: String,
        /// The cluster's namespace.
        namespace: String,
        /// This member's shard count.
        ours: u32,
        /// The cluster's.
        theirs: u32,
    },

    /// The node id cannot name a NATS subject token and key.
    #[error("invalid node id {node:?}: {reason}; use 1 to 64 letters, digits, `-` or `_`")]
    InvalidNodeId {
        /// The node id.
        node: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Subscribing to the cluster's events failed ([`Cluster::subscribe`](crate::Cluster::subscribe)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// This member has left the cluster.
    #[error("node {node:?} has left the cluster; subscribe through a member that has not")]
    Left {
        /// The node id.
        node: String,
    },

    /// A NATS request failed: NATS is unreachable.
    #[error(
        "node {node:?} cannot subscribe to the cluster's events: NATS failed while {doing}: \
         {reason}; check that nats-server is reachable, then subscribe again"
    )]
    Nats {
        /// The node id.
        node: String,
        /// What the member was doing.
        doing: &'static str,
        /// The client's message.
        reason: String,
    },

    /// Some placed members did not confirm that they forward their events: their events
    /// would be missed. They are dead (not yet declared so) or cut off from NATS.
    #[error(
        "node {node:?} cannot subscribe to the cluster's events: members {missing:?} did \
         not confirm within {waited:?} that they forward theirs; subscribe again once they \
         are reachable or declared dead"
    )]
    Unconfirmed {
        /// The node id.
        node: String,
        /// The members that did not confirm.
        missing: Vec<String>,
        /// How long this member waited (the ask timeout).
        waited: std::time::Duration,
    },
}

/// What kind of failure an owner reported ([`ClusterAskError::Failed`]): the variant of
/// the runtime's [`AskError`] it had, which does not cross the wire whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// The store failed ([`AskError::Store`]); the command may or may not be stored.
    Store,
    /// An event could not be encoded ([`AskError::Encode`]); nothing was stored.
    Encode,
    /// The mailbox was full ([`AskError::MailboxFull`]).
    MailboxFull,
    /// The actor did not answer in time on its owner ([`AskError::Timeout`]).
    Timeout,
    /// `decide` or `apply` panicked ([`AskError::Panicked`]).
    Panicked,
    /// The actor could not start ([`AskError::StartFailed`]).
    StartFailed,
    /// The actor stopped for good ([`AskError::Stopped`]).
    Stopped,
    /// The actor's task ended before answering ([`AskError::Interrupted`]); the command
    /// may or may not have been applied.
    Interrupted,
    /// The actor id is not usable ([`AskError::InvalidId`]).
    InvalidId,
    /// Another failure.
    Other,
}

/// A routed ask ([`ClusterRef::ask`](crate::ClusterRef::ask)) failed.
///
/// The command id named in the errors is the one the command carried (the caller's, or
/// one the cluster generated): retrying with it
/// ([`AskOptions::command_id`](aether_runtime::AskOptions::command_id)) applies the
/// command at most once, on whichever member owns the actor then.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterAskError<E> {
    /// The domain refused the command. Nothing was persisted.
    #[error("actor {actor_id:?} at version {version} rejected the command: {error}")]
    Rejected {
        /// The actor (`"{ACTOR_TYPE}|{id}"`).
        actor_id: String,
        /// The actor's version when it decided.
        version: i64,
        /// The domain's own error.
        error: E,
    },

    /// The command id was applied before (on this member or another); it was not applied
    /// again. Its reply is not kept where it was asked this time.
    #[error(
        "actor {actor_id:?}: command {command_id:?} was already applied (versions \
         {first_version} to {version})"
    )]
    Duplicate {
        /// The actor.
        actor_id: String,
        /// The command id.
        command_id: String,
        /// The version of the command's first event.
        first_version: i64,
        /// The version of its last event.
        version: i64,
    },

    /// Another writer kept winning (two owners for a moment: a handover, a partition, a
    /// slow member). Nothing of this command was persisted; retry it.
    #[error("actor {actor_id:?}: command still conflicted after {attempts} attempts: {reason}")]
    Conflict {
        /// The actor.
        actor_id: String,
        /// How many times the owner decided and tried.
        attempts: u32,
        /// The last version conflict.
        reason: String,
    },

    /// The owner reported another failure of the runtime.
    #[error("actor {actor_id:?} on node {node:?}: {kind:?}: {reason}")]
    Failed {
        /// The actor.
        actor_id: String,
        /// The member that owned it.
        node: String,
        /// Which failure.
        kind: FailureKind,
        /// The runtime's message.
        reason: String,
    },

    /// The owner did not answer: it died, or was cut off, with the command in flight, or
    /// did not answer within the ask timeout. The command may or may not have been
    /// applied: retry with the same command id, which applies it at most once.
    #[error(
        "actor {actor_id:?}: node {node:?} did not answer ({reason}); command \
         {command_id:?} may or may not have been applied: retry it with the same command id"
    )]
    Unreachable {
        /// The actor.
        actor_id: String,
        /// The member asked.
        node: String,
        /// The command id to retry with.
        command_id: String,
        /// What happened: the member was declared dead, or the time waited.
        reason: String,
    },

    /// No member took the command within the ask timeout: no member is placed (the
    /// cluster is empty or still forming), or the actor's shard was moving all along.
    /// The command was not applied.
    #[error(
        "actor {actor_id:?}: no member took the command within {waited:?} (shard {shard}, \
         {members} placed members); check that members are running"
    )]
    Unavailable {
        /// The actor.
        actor_id: String,
        /// Its shard.
        shard: u32,
        /// Placed members when the ask gave up.
        members: usize,
        /// How long the ask waited.
        waited: Duration,
    },

    /// The command, the reply or the domain error did not survive JSON.
    #[error("actor {actor_id:?}: cannot {what}: {reason}")]
    Codec {
        /// The actor.
        actor_id: String,
        /// What could not be encoded or decoded.
        what: &'static str,
        /// The serde message.
        reason: String,
    },

    /// The owner does not know the actor type: register it on every member
    /// ([`ClusterBuilder::register`](crate::ClusterBuilder::register)).
    #[error(
        "actor {actor_id:?}: node {node:?} has no actor type {actor_type:?}; register it on \
         every member with `ClusterBuilder::register`"
    )]
    UnknownActorType {
        /// The actor.
        actor_id: String,
        /// The member asked.
        node: String,
        /// The actor type.
        actor_type: String,
    },

    /// This member has left the cluster ([`Cluster::leave`](crate::Cluster::leave)).
    #[error("actor {actor_id:?}: this member has left the cluster; join again to send")]
    Left {
        /// The actor.
        actor_id: String,
    },
}

impl<E> ClusterAskError<E> {
    /// The actor the failed ask was for.
    pub fn actor_id(&self) -> &str {
        match self {
            ClusterAskError::Rejected { actor_id, .. }
            | ClusterAskError::Duplicate { actor_id, .. }
            | ClusterAskError::Conflict { actor_id, .. }
            | ClusterAskError::Failed { actor_id, .. }
            | ClusterAskError::Unreachable { actor_id, .. }
            | ClusterAskError::Unavailable { actor_id, .. }
            | ClusterAskError::Codec { actor_id, .. }
            | ClusterAskError::UnknownActorType { actor_id, .. }
            | ClusterAskError::Left { actor_id } => actor_id,
        }
    }

    /// Whether sending the same command again, with the same command id, may succeed:
    /// the owner was unreachable, the shard was moving, two owners conflicted, or the
    /// store or mailbox failed for a moment. Such a retry never applies the command
    /// twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClusterAskError::Unreachable { .. }
            | ClusterAskError::Unavailable { .. }
            | ClusterAskError::Conflict { .. } => true,
            ClusterAskError::Failed { kind, .. } => matches!(
                kind,
                FailureKind::Store
                    | FailureKind::MailboxFull
                    | FailureKind::Timeout
                    | FailureKind::Interrupted
            ),
            _ => false,
        }
    }

    /// The domain's error, if the command was rejected.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            ClusterAskError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl<E: std::fmt::Display> ClusterAskError<E> {
    /// The runtime's error on the owner, as this enum (on the owner itself, for the
    /// local path, and before a reply crosses the wire).
    pub(crate) fn from_ask(error: AskError<E>, node: &str) -> Self {
        let failed =
            |actor_id: String, kind: FailureKind, reason: String| ClusterAskError::Failed {
                actor_id,
                node: node.to_owned(),
                kind,
                reason,
            };
        match error {
            AskError::Rejected {
                actor_id,
                version,
                error,
            } => ClusterAskError::Rejected {
                actor_id,
                version,
                error,
            },
            AskError::Duplicate {
                actor_id,
                command_id,
                version,
                first_version,
            } => ClusterAskError::Duplicate {
                actor_id,
                command_id,
                first_version,
                version,
            },
            AskError::Conflict {
                actor_id,
                attempts,
                conflict,
            } => ClusterAskError::Conflict {
                actor_id,
                attempts,
                reason: conflict.to_string(),
            },
            other => {
                let actor_id = other.actor_id().to_owned();
                let kind = failure_kind(&other);
                let reason = match &other {
                    AskError::Store { source, .. } => source.to_string(),
                    _ => other.to_string(),
                };
                failed(actor_id, kind, reason)
            }
        }
    }
}

fn failure_kind<E>(error: &AskError<E>) -> FailureKind {
    match error {
        AskError::Store { .. } => FailureKind::Store,
        AskError::Encode { .. } => FailureKind::Encode,
        AskError::MailboxFull { .. } => FailureKind::MailboxFull,
        AskError::Timeout { .. } => FailureKind::Timeout,
        AskError::Panicked { .. } => FailureKind::Panicked,
        AskError::StartFailed(_) => FailureKind::StartFailed,
        AskError::Stopped { .. } => FailureKind::Stopped,
        AskError::Interrupted { .. } => FailureKind::Interrupted,
        AskError::InvalidId { .. } => FailureKind::InvalidId,
        _ => FailureKind::Other,
    }
}
