//! [`ClusterRef`]: an actor's handle anywhere in the cluster. An ask goes to the
//! actor's owner: a local call when it is this member, else a NATS request.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::actor_type::ClusterActor;
use crate::cluster::Cluster;
use crate::error::ClusterAskError;
use crate::host::Local;
use crate::member::View;
use crate::placement::{owner_of, shard_of};
use crate::wire::{member_subject, Request, Response};

/// A handle to actor `id` of type `A` in a cluster: cheap to clone, usable from any
/// member. Get one from [`Cluster::actor`].
///
/// Every command carries a command id (the caller's, or a fresh UUID v7): when the owner
/// cannot be reached with a command in flight, the error names the id, and asking again
/// with it ([`ask_with_id`](Self::ask_with_id)) applies the command at most once, on
/// whichever member owns the actor then (the new owner reads the ids back from the
/// stored events).
pub struct ClusterRef<A: ClusterActor> {
    cluster: Cluster,
    id: Arc<str>,
    shard: u32,
    _actor: PhantomData<fn() -> A>,
}

impl<A: ClusterActor> Clone for ClusterRef<A> {
    fn clone(&self) -> Self {
        ClusterRef {
            cluster: self.cluster.clone(),
            id: Arc::clone(&self.id),
            shard: self.shard,
            _actor: PhantomData,
        }
    }
}

impl<A: ClusterActor> fmt::Debug for ClusterRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterRef")
            .field("actor_type", &A::ACTOR_TYPE)
            .field("id", &self.id)
            .field("shard", &self.shard)
            .finish()
    }
}

type Reply<A> = Result<
    <A as aether_runtime::EventSourced>::Reply,
    ClusterAskError<<A as aether_runtime::EventSourced>::Error>,
>;

/// What one attempt at the owner came to.
enum Attempt<A: ClusterActor> {
    Done(Reply<A>),
    /// Not applied (moved, no responder, no owner yet): try again after the view moves.
    Again,
}

impl<A: ClusterActor> ClusterRef<A> {
    pub(crate) fn new(cluster: Cluster, id: &str) -> Self {
        let shard = shard_of(A::ACTOR_TYPE, id, cluster.inner.host.shard_count());
        ClusterRef {
            cluster,
            id: id.into(),
            shard,
            _actor: PhantomData,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The actor's shard.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The member that owns the actor in this member's current view (`None` while no
    /// member is placed).
    pub fn owner(&self) -> Option<String> {
        let view = self.cluster.inner.view.borrow();
        owner_of(self.shard, &view.placed).map(str::to_owned)
    }

    /// Sends a command to the actor's owner and waits for the reply, with a fresh
    /// command id.
    ///
    /// While the actor's shard moves (a member joins or leaves, or died), the ask waits
    /// for the new owner and sends the command there, within the
    /// [`ask_timeout`](crate::ClusterConfig::ask_timeout).
    ///
    /// # Errors
    ///
    /// Every variant of [`ClusterAskError`]; [`ClusterAskError::Rejected`] carries the
    /// domain's error, and [`ClusterAskError::Unreachable`] the command id to retry with.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the command was sent, the command may still be
    /// applied.
    pub async fn ask(&self, command: A::Command) -> Reply<A> {
        self.ask_with_id(command, uuid::Uuid::now_v7().to_string())
            .await
    }

    /// [`ask`](Self::ask) with the caller's command id: a command id is applied at most
    /// once in the cluster (within the actor's
    /// [idempotency window](aether_runtime::ActorConfig::idempotency_window)). A retry of
    /// an applied id answers its first reply if the member that applied it still keeps
    /// it, else [`ClusterAskError::Duplicate`].
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask).
    pub async fn ask_with_id(
        &self,
        command: A::Command,
        command_id: impl Into<String>,
    ) -> Reply<A> {
        let command_id = command_id.into();
        let inner = &self.cluster.inner;
        let started = Instant::now();
        let deadline = started + inner.config.ask_timeout;
        let mut view_rx = inner.view.clone();
        let mut backoff = Duration::from_millis(2);
        let mut encoded: Option<Bytes> = None;
        loop {
            if inner.is_left() {
                return Err(ClusterAskError::Left {
                    actor_id: self.stored_id(),
                });
            }
            let placed = Arc::clone(&view_rx.borrow_and_update().placed);
            let attempt = match owner_of(self.shard, &placed) {
                None => Attempt::Again,
                Some(owner) if owner == &*inner.node => {
                    match inner
                        .host
                        .ask_local::<A>(self.shard, &self.id, command.clone(), &command_id)
                        .await
                    {
                        Local::Done(result) => Attempt::Done(result),
                        Local::Moved => Attempt::Again,
                    }
                }
                Some(owner) => {
                    let payload = match &encoded {
                        Some(payload) => payload.clone(),
                        None => {
                            let payload = self.encode(&command, &command_id)?;
                            encoded = Some(payload.clone());
                            payload
                        }
                    };
                    self.remote(owner, payload, &command_id, deadline, view_rx.clone())
                        .await
                }
            };
            if let Attempt::Done(result) = attempt {
                return result;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClusterAskError::Unavailable {
                    actor_id: self.stored_id(),
                    shard: self.shard,
                    members: placed.len(),
                    waited: now - started,
                });
            }
            let pause = backoff.min(deadline - now);
            tokio::select! {
                _ = view_rx.changed() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// Sends a command without waiting for its outcome: it is routed like an
    /// [`ask`](Self::ask) (with a fresh command id) on a task of its own, and a failure
    /// is logged at `warn`. Use `ask` when the caller must know the command was applied.
    ///
    /// # Errors
    ///
    /// [`ClusterAskError::Left`] when this member has left the cluster.
    pub fn tell(&self, command: A::Command) -> Result<(), ClusterAskError<A::Error>> {
        if self.cluster.inner.is_left() {
            return Err(ClusterAskError::Left {
                actor_id: self.stored_id(),
            });
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.ask(command).await {
                tracing::warn!(actor_id = %this.stored_id(), error = %err, "told command failed");
            }
        });
        Ok(())
    }

    fn stored_id(&self) -> String {
        format!("{}|{}", A::ACTOR_TYPE, self.id)
    }

    fn encode(
        &self,
        command: &A::Command,
        command_id: &str,
    ) -> Result<Bytes, ClusterAskError<A::Error>> {
        let codec = |reason: String| ClusterAskError::Codec {
            actor_id: self.stored_id(),
            what: "encode the command",
            reason,
        };
        let request = Request {
            actor_type: A::ACTOR_TYPE.to_owned(),
            id: self.id.to_string(),
            command_id: command_id.to_owned(),
            command: A::encode_command(command).map_err(|e| codec(e.to_string()))?,
        };
        serde_json::to_vec(&request)
            .map(Bytes::from)
            .map_err(|e| codec(e.to_string()))
    }

    /// One request to `owner`; gives up when `owner` is declared dead (after a short
    /// grace for a reply already on its way) or at the deadline.
    async fn remote(
        &self,
        owner: &str,
        payload: Bytes,
        command_id: &str,
        deadline: Instant,
        mut view_rx: watch::Receiver<View>,
    ) -> Attempt<A> {
        let inner = &self.cluster.inner;
        let subject = member_subject(&inner.namespace, owner);
        let left = deadline.saturating_duration_since(Instant::now());
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(left.max(Duration::from_millis(1))));
        let send = inner.client.send_request(subject, request);
        tokio::pin!(send);
        // Resolves when `owner` is no longer placed, saying whether it left gracefully.
        let owner_gone = async {
            let departed = loop {
                {
                    let view = view_rx.borrow_and_update();
                    if !view.placed.iter().any(|m| m == owner) {
                        break view.departed.iter().any(|m| m == owner);
                    }
                }
                if view_rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            if departed {
                // A member leaving answers every request it took before it unsubscribes:
                // give a reply already on its way one heartbeat interval to arrive. A
                // dead member has been silent for the dead-after time: nothing is coming.
                tokio::time::sleep(inner.config.heartbeat_interval).await;
            }
            departed
        };
        let unreachable = |reason: String| {
            Attempt::Done(Err(ClusterAskError::Unreachable {
                actor_id: self.stored_id(),
                node: owner.to_owned(),
                command_id: command_id.to_owned(),
                reason,
            }))
        };
        let message = tokio::select! {
            sent = &mut send => sent,
            departed = owner_gone => {
                if departed {
                    // It answered everything it took before leaving: this request was
                    // not taken. Send it again (same command id) to the new owner.
                    return Attempt::Again;
                }
                return unreachable(
                    "the member was declared dead with the command in flight".to_owned(),
                );
            }
        };
        match message {
            Ok(message) => self.decode(owner, &message.payload),
            Err(err) => match err.kind() {
                // Nobody listens on the member's subject (it is gone or not yet
                // subscribed): the command was not delivered.
                async_nats::client::RequestErrorKind::NoResponders => Attempt::Again,
                async_nats::client::RequestErrorKind::TimedOut => {
                    unreachable(format!("no answer within {left:?}"))
                }
                async_nats::client::RequestErrorKind::Other => unreachable(err.to_string()),
            },
        }
    }

    fn decode(&self, owner: &str, payload: &[u8]) -> Attempt<A> {
        let codec = |what, reason: String| {
            Attempt::Done(Err(ClusterAskError::Codec {
                actor_id: self.stored_id(),
                what,
                reason,
            }))
        };
        let response = match serde_json::from_slice::<Response>(payload) {
            Ok(response) => response,
            Err(err) => return codec("decode the owner's answer", err.to_string()),
        };
        Attempt::Done(Err(match response {
            Response::Ok(reply) => {
                return match A::decode_reply(reply) {
                    Ok(reply) => Attempt::Done(Ok(reply)),
                    Err(err) => codec("decode the reply", err.to_string()),
                }
            }
            Response::Moved => return Attempt::Again,
            Response::Rejected {
                actor_id,
                version,
                error,
            } => match A::decode_error(error) {
                Ok(error) => ClusterAskError::Rejected {
                    actor_id,
                    version,
                    error,
                },
                Err(err) => return codec("decode the domain error", err.to_string()),
            },
            Response::Duplicate {
                actor_id,
                command_id,
                first_version,
                version,
            } => ClusterAskError::Duplicate {
                actor_id,
                command_id,
                first_version,
                version,
            },
            Response::Conflict {
                actor_id,
                attempts,
                reason,
            } => ClusterAskError::Conflict {
                actor_id,
                attempts,
                reason,
            },
            Response::Failed {
                actor_id,
                kind,
                reason,
            } => ClusterAskError::Failed {
                actor_id: if actor_id.is_empty() {
                    self.stored_id()
                } else {
                    actor_id
                },
                node: owner.to_owned(),
                kind,
                reason,
            },
            Response::UnknownActorType => ClusterAskError::UnknownActorType {
                actor_id: self.stored_id(),
                node: owner.to_owned(),
                actor_type: A::ACTOR_TYPE.to_owned(),
            },
            Response::BadRequest { reason } => ClusterAskError::Codec {
                actor_id: self.stored_id(),
                what: "decode the command on its owner",
                reason,
            },
        }))
    }
}
