//! What crosses the wire between members: a routed command ([`Request`]) and its outcome
//! ([`Response`]), JSON over NATS request/reply.
//!
//! A member `n` of namespace `ns` answers on the subject `aether.<ns>.cluster.<n>`; the
//! command, the reply and the domain error are the user's own serde JSON inside.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FailureKind;

/// The subject member `node` of namespace `namespace` answers on.
pub(crate) fn member_subject(namespace: &str, node: &str) -> String {
    format!("aether.{namespace}.cluster.{node}")
}

/// A command for an actor, sent to its owner.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// `EventSourced::ACTOR_TYPE`.
    #[serde(rename = "type")]
    pub(crate) actor_type: String,
    /// The actor's id (not the stored id).
    pub(crate) id: String,
    /// The command id (always set: the router makes one when the caller gave none).
    pub(crate) command_id: String,
    /// The command, as the actor type's `Command` serializes.
    pub(crate) command: Value,
}

/// The owner's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Response {
    /// The reply, as the actor type's `Reply` serializes.
    Ok(Value),
    /// The domain refused: its error, as the actor type's `Error` serializes.
    Rejected {
        actor_id: String,
        version: i64,
        error: Value,
    },
    /// Applied before.
    Duplicate {
        actor_id: String,
        command_id: String,
        first_version: i64,
        version: i64,
    },
    /// Conflicted after the owner's retries.
    Conflict {
        actor_id: String,
        attempts: u32,
        reason: String,
    },
    /// Another runtime failure.
    Failed {
        actor_id: String,
        kind: FailureKind,
        reason: String,
    },
    /// This member does not own the actor's shard (now): the command was not applied;
    /// ask the owner of the router's next view.
    Moved,
    /// The actor type is not registered here.
    UnknownActorType,
    /// The request or the command did not decode here.
    BadRequest { reason: String },
}
