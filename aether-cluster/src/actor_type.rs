//! [`ClusterActor`]: an actor whose commands, replies and domain errors cross the wire;
//! and the table of actor types a member serves.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use aether_runtime::{AskError, AskOptions, EventSourced, Runtime};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ClusterAskError;
use crate::wire::Response;

/// An actor that can live in a cluster: its `Command`, `Reply` and `Error` are
/// `Serialize` and `Deserialize` (JSON crosses the wire between members), and its
/// `Command` is `Clone` (a command whose shard moved while it was being sent is sent
/// again to the new owner).
///
/// Implemented for every such actor. With the macros, `#[aether::commands(cluster)]`
/// derives serde for the generated command and reply enums; the domain error needs
/// `#[derive(serde::Serialize, serde::Deserialize)]` of its own.
#[diagnostic::on_unimplemented(
    message = "actor `{Self}` cannot be used in a cluster: its commands, replies or domain error are not `Serialize` and `Deserialize`",
    label = "commands, replies and errors cross the wire between members as JSON",
    note = "write `#[aether::commands(cluster)]` on the actor's `impl` block, and add `#[derive(serde::Serialize, serde::Deserialize)]` to its error type (and to the types its commands take and return)"
)]
pub trait ClusterActor: EventSourced<Command: Clone> {
    /// The command as JSON.
    ///
    /// # Errors
    ///
    /// The command's `Serialize` failed.
    fn encode_command(command: &Self::Command) -> Result<Value, serde_json::Error>;
    /// The command from JSON.
    ///
    /// # Errors
    ///
    /// The JSON is not a command of this actor type.
    fn decode_command(command: Value) -> Result<Self::Command, serde_json::Error>;
    /// The reply as JSON.
    ///
    /// # Errors
    ///
    /// The reply's `Serialize` failed.
    fn encode_reply(reply: &Self::Reply) -> Result<Value, serde_json::Error>;
    /// The reply from JSON.
    ///
    /// # Errors
    ///
    /// The JSON is not a reply of this actor type.
    fn decode_reply(reply: Value) -> Result<Self::Reply, serde_json::Error>;
    /// The domain error as JSON.
    ///
    /// # Errors
    ///
    /// The error's `Serialize` failed.
    fn encode_error(error: &Self::Error) -> Result<Value, serde_json::Error>;
    /// The domain error from JSON.
    ///
    /// # Errors
    ///
    /// The JSON is not an error of this actor type.
    fn decode_error(error: Value) -> Result<Self::Error, serde_json::Error>;
}

#[diagnostic::do_not_recommend]
impl<A> ClusterActor for A
where
    A: EventSourced,
    A::Command: Serialize + DeserializeOwned + Clone,
    A::Reply: Serialize + DeserializeOwned,
    A::Error: Serialize + DeserializeOwned,
{
    fn encode_command(command: &Self::Command) -> Result<Value, serde_json::Error> {
        serde_json::to_value(command)
    }
    fn decode_command(command: Value) -> Result<Self::Command, serde_json::Error> {
        serde_json::from_value(command)
    }
    fn encode_reply(reply: &Self::Reply) -> Result<Value, serde_json::Error> {
        serde_json::to_value(reply)
    }
    fn decode_reply(reply: Value) -> Result<Self::Reply, serde_json::Error> {
        serde_json::from_value(reply)
    }
    fn encode_error(error: &Self::Error) -> Result<Value, serde_json::Error> {
        serde_json::to_value(error)
    }
    fn decode_error(error: Value) -> Result<Self::Error, serde_json::Error> {
        serde_json::from_value(error)
    }
}

/// Serves commands for one actor type from their JSON (the owner's side of a request).
pub(crate) trait Serve: Send + Sync {
    fn serve(
        &self,
        runtime: Runtime,
        id: String,
        command_id: String,
        command: Value,
    ) -> BoxFuture<'static, Outcome>;
}

/// What serving a request came to.
pub(crate) enum Outcome {
    /// The answer to send back.
    Answer(Response),
    /// The shard's runtime was shutting down (handover): the command was not applied.
    Moved,
}

struct Typed<A>(PhantomData<fn() -> A>);

impl<A: ClusterActor> Serve for Typed<A> {
    fn serve(
        &self,
        runtime: Runtime,
        id: String,
        command_id: String,
        command: Value,
    ) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            let command = match A::decode_command(command) {
                Ok(command) => command,
                Err(err) => {
                    return Outcome::Answer(Response::BadRequest {
                        reason: format!("the command is not a {} command: {err}", A::ACTOR_TYPE),
                    })
                }
            };
            let actor = runtime.actor::<A>(&id);
            let result = actor
                .ask_with(command, AskOptions::new().command_id(command_id))
                .await;
            to_response::<A>(result)
        })
    }
}

/// An ask's result as the wire's answer.
pub(crate) fn to_response<A: ClusterActor>(
    result: Result<A::Reply, AskError<A::Error>>,
) -> Outcome {
    let error = match result {
        Ok(reply) => {
            return Outcome::Answer(match A::encode_reply(&reply) {
                Ok(value) => Response::Ok(value),
                Err(err) => Response::Failed {
                    actor_id: String::new(),
                    kind: crate::FailureKind::Encode,
                    reason: format!("cannot encode the reply: {err}"),
                },
            })
        }
        Err(AskError::ShuttingDown { .. }) => return Outcome::Moved,
        Err(error) => error,
    };
    Outcome::Answer(match ClusterAskError::from_ask(error, "") {
        ClusterAskError::Rejected {
            actor_id,
            version,
            error,
        } => match A::encode_error(&error) {
            Ok(error) => Response::Rejected {
                actor_id,
                version,
                error,
            },
            Err(err) => Response::Failed {
                actor_id,
                kind: crate::FailureKind::Encode,
                reason: format!("cannot encode the domain error {error}: {err}"),
            },
        },
        ClusterAskError::Duplicate {
            actor_id,
            command_id,
            first_version,
            version,
        } => Response::Duplicate {
            actor_id,
            command_id,
            first_version,
            version,
        },
        ClusterAskError::Conflict {
            actor_id,
            attempts,
            reason,
        } => Response::Conflict {
            actor_id,
            attempts,
            reason,
        },
        ClusterAskError::Failed {
            actor_id,
            kind,
            reason,
            ..
        } => Response::Failed {
            actor_id,
            kind,
            reason,
        },
        other => Response::Failed {
            actor_id: other.actor_id().to_owned(),
            kind: crate::FailureKind::Other,
            reason: other.to_string(),
        },
    })
}

/// The actor types a member serves, by `ACTOR_TYPE`.
#[derive(Default, Clone)]
pub(crate) struct ActorTypes {
    by_name: HashMap<&'static str, Arc<dyn Serve>>,
}

impl ActorTypes {
    pub(crate) fn register<A: ClusterActor>(&mut self) {
        self.by_name
            .insert(A::ACTOR_TYPE, Arc::new(Typed::<A>(PhantomData)));
    }

    pub(crate) fn get(&self, actor_type: &str) -> Option<&Arc<dyn Serve>> {
        self.by_name.get(actor_type)
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.by_name.keys().copied().collect();
        names.sort_unstable();
        names
    }
}
