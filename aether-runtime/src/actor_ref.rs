//! [`ActorRef`]: the handle through which commands reach an actor.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{AskError, NotDelivered};
use crate::id::stored_actor_id;
use crate::mailbox::{Envelope, Inquiry, Message, TrySendError};
use crate::options::AskOptions;
use crate::registry::{Acquired, Registry, Terminal};
use crate::{EventSourced, Runtime};

/// A handle to one event-sourced actor: cheap to clone, `Send + Sync`, valid across
/// passivation (a command to a passivated actor starts it again).
///
/// Get one from [`Runtime::actor`].
pub struct ActorRef<A: EventSourced> {
    runtime: Runtime,
    registry: Arc<Registry<A>>,
    /// `"{ACTOR_TYPE}|{id}"`: the one allocation of the id, shared with the registry.
    stored_id: Arc<str>,
}

impl<A: EventSourced> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef {
            runtime: self.runtime.clone(),
            registry: Arc::clone(&self.registry),
            stored_id: Arc::clone(&self.stored_id),
        }
    }
}

impl<A: EventSourced> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("actor_type", &A::ACTOR_TYPE)
            .field("id", &self.id())
            .finish()
    }
}

/// How a message enters the mailbox.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Wait,
    NoWait,
}

type Reply<A> = Result<<A as EventSourced>::Reply, AskError<<A as EventSourced>::Error>>;

impl<A: EventSourced> ActorRef<A> {
    pub(crate) fn new(runtime: Runtime, registry: Arc<Registry<A>>, id: &str) -> Self {
        ActorRef {
            runtime,
            registry,
            stored_id: stored_actor_id::<A>(id).into(),
        }
    }

    /// The actor's id, as given to [`Runtime::actor`].
    pub fn id(&self) -> &str {
        crate::id::plain_id::<A>(&self.stored_id)
    }

    /// The actor's id as stored: `"{ACTOR_TYPE}|{id}"`.
    pub fn stored_id(&self) -> &str {
        &self.stored_id
    }

    /// The runtime this actor lives in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Sends a command and waits for the reply: waits for mailbox capacity, then for the
    /// command's events to be persisted and applied. Uses the actor type's
    /// [`ask_timeout`](crate::ActorConfig::ask_timeout), if any.
    ///
    /// # Errors
    ///
    /// Every variant of [`AskError`]; [`AskError::Rejected`] carries the domain's error.
    ///
    /// # Cancel safety
    ///
    /// If the returned future is dropped after the command entered the mailbox, the
    /// command still runs; only the reply is lost.
    pub async fn ask(&self, command: A::Command) -> Reply<A> {
        self.ask_with(command, AskOptions::new()).await
    }

    /// [`ask`](ActorRef::ask) with a timeout for this call.
    ///
    /// # Errors
    ///
    /// As [`ask`](ActorRef::ask), and [`AskError::Timeout`] when no reply came in time.
    pub async fn ask_timeout(&self, command: A::Command, timeout: Duration) -> Reply<A> {
        self.ask_with(command, AskOptions::new().timeout(timeout))
            .await
    }

    /// Sends a command if the mailbox has room, else fails at once with
    /// [`AskError::MailboxFull`]; then waits for the reply.
    ///
    /// # Errors
    ///
    /// As [`ask`](ActorRef::ask).
    pub async fn try_ask(&self, command: A::Command) -> Reply<A> {
        self.ask_with(command, AskOptions::new().no_wait()).await
    }

    /// [`ask`](ActorRef::ask) with [`AskOptions`]: a command id (idempotency), a
    /// timeout, no waiting for capacity.
    ///
    /// # Errors
    ///
    /// As [`ask`](ActorRef::ask), and [`AskError::Duplicate`] for a command id the actor
    /// has already applied and whose reply it no longer keeps (a retry within
    /// [`kept_replies`](crate::ActorConfig::kept_replies) gets the first reply: `Ok`).
    pub async fn ask_with(&self, command: A::Command, options: AskOptions) -> Reply<A> {
        let (command_id, timeout, no_wait) = options.into_parts();
        let timeout = timeout.or(self.registry.config.ask_timeout);
        let mode = if no_wait { Mode::NoWait } else { Mode::Wait };
        let exchange = async {
            let (tx, rx) = oneshot::channel();
            self.send(
                Envelope {
                    command,
                    command_id,
                    reply: Some(tx),
                },
                mode,
            )
            .await?;
            match rx.await {
                Ok(reply) => reply,
                Err(_) => Err(self.ended_error()),
            }
        };
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let result = match timeout {
            None => exchange.await,
            Some(after) => match tokio::time::timeout(after, exchange).await {
                Ok(reply) => reply,
                Err(_) => Err(AskError::Timeout {
                    actor_id: self.stored_id.to_string(),
                    after,
                }),
            },
        };
        #[cfg(feature = "metrics")]
        crate::obs::ask_latency(A::ACTOR_TYPE, started.elapsed());
        result
    }

    /// Sends a command without waiting for its outcome (waits only for mailbox
    /// capacity). A failure of the command is traced at `warn` level.
    ///
    /// A told command is queued, not yet executed, when this returns: call
    /// [`Runtime::shutdown`] before the program ends, which executes every queued
    /// command. Commands still queued when the tokio runtime stops without it are lost
    /// (the runtime logs how many at `warn`).
    ///
    /// # Errors
    ///
    /// Only when the command could not be queued: [`AskError::ShuttingDown`],
    /// [`AskError::Stopped`], [`AskError::StartFailed`], [`AskError::InvalidId`].
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped while waiting for mailbox capacity, the command was not
    /// queued.
    pub async fn tell(
        &self,
        command: A::Command,
    ) -> Result<(), NotDelivered<A::Command, A::Error>> {
        let message = Message::Command(Box::new(Envelope {
            command,
            command_id: None,
            reply: None,
        }));
        self.send_message(message, Mode::Wait)
            .await
            .map_err(Undelivered::into_not_delivered)
    }

    /// Like [`tell`](ActorRef::tell), but fails with [`AskError::MailboxFull`] instead of
    /// waiting.
    ///
    /// # Errors
    ///
    /// As [`tell`](ActorRef::tell), plus [`AskError::MailboxFull`].
    pub fn try_tell(&self, command: A::Command) -> Result<(), NotDelivered<A::Command, A::Error>> {
        let message = Message::Command(Box::new(Envelope {
            command,
            command_id: None,
            reply: None,
        }));
        // With `NoWait` the send never waits: the future is ready at its first poll.
        match futures::FutureExt::now_or_never(self.send_message(message, Mode::NoWait)) {
            Some(result) => result.map_err(Undelivered::into_not_delivered),
            None => unreachable!("a send that does not wait is ready at once"),
        }
    }

    /// Whether a command with `command_id` was applied, and which versions its events
    /// got, without sending the command again: for a client reconciling after a crash or
    /// a lost reply.
    ///
    /// The actor answers from what it remembers of its
    /// [idempotency window](crate::ActorConfig::idempotency_window) (the command ids of
    /// the events of its last `idempotency_window` versions, read back from the store
    /// after a restart): `Ok(None)` means no event of that window carries the id. With
    /// a window of 0 nothing is remembered and the answer is always `Ok(None)`. The
    /// question waits in the mailbox behind the commands sent before it, so a command
    /// sent earlier has been decided when it is answered.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use aether_runtime::{AskOptions, Runtime, EventSourced, Decision};
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Counter;
    /// # struct Bumped;
    /// # impl aether_runtime::DomainEvent for Bumped {
    /// #     fn event_type(&self) -> &str { "Bumped" }
    /// #     fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> { Ok(serde_json::json!({})) }
    /// #     fn from_data(_: &str, _: &serde_json::Value) -> Result<Self, aether_runtime::EventDecodeError> { Ok(Bumped) }
    /// # }
    /// # #[derive(Debug, thiserror::Error)] #[error("never")] struct Never;
    /// # impl EventSourced for Counter {
    /// #     const ACTOR_TYPE: &'static str = "Counter";
    /// #     type Command = (); type Event = Bumped; type Reply = (); type Error = Never;
    /// #     fn decide(&self, _: &()) -> Result<Decision<Bumped>, Never> { Ok(Decision::emit(Bumped)) }
    /// #     fn apply(&mut self, _: &Bumped) {}
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let runtime = Runtime::new(Arc::new(aether_core::InMemoryStore::new()));
    /// let counter = runtime.actor::<Counter>("c-1");
    /// counter.ask_with((), AskOptions::new().command_id("bump-42")).await?;
    /// let applied = counter.applied("bump-42").await?.expect("applied");
    /// assert_eq!((applied.first_version, applied.last_version), (1, 1));
    /// assert_eq!(counter.applied("bump-43").await?, None);
    /// # runtime.shutdown().await;
    /// # Ok::<(), aether_runtime::AskError<Never>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`tell`](ActorRef::tell) when the question cannot be delivered, and
    /// [`AskError::Store`] / [`AskError::StartFailed`] when the actor cannot read its
    /// history.
    pub async fn applied(
        &self,
        command_id: &str,
    ) -> Result<Option<crate::AppliedCommand>, AskError<A::Error>> {
        let (tx, rx) = oneshot::channel();
        let inquiry = Inquiry {
            command_id: command_id.to_owned(),
            reply: tx,
        };
        self.send_message(Message::Applied(Box::new(inquiry)), Mode::Wait)
            .await
            .map_err(|undelivered| undelivered.error)?;
        rx.await.unwrap_or_else(|_| Err(self.ended_error()))
    }

    /// Makes sure the actor's task is running (used by [`Runtime::actor`]).
    pub(crate) fn ensure_started(&self) {
        // Acquiring spawns the task when none runs; releasing it at once is harmless.
        drop(self.acquire());
    }

    fn acquire(&self) -> Result<Acquired<A>, AskError<A::Error>> {
        if self.id().is_empty() {
            return Err(AskError::InvalidId {
                actor_id: self.stored_id.to_string(),
                reason: "the id is empty; give `Runtime::actor` a non-empty id".to_owned(),
            });
        }
        self.refuse_if_shutting_down()?;
        let acquired = self
            .registry
            .acquire(&self.runtime.inner.context, &self.stored_id)?;
        if let Some(terminal) = acquired.cell.shared.terminal.get() {
            return Err(self.terminal_error(terminal));
        }
        Ok(acquired)
    }

    async fn send(&self, envelope: Envelope<A>, mode: Mode) -> Result<(), AskError<A::Error>> {
        self.send_message(Message::Command(Box::new(envelope)), mode)
            .await
            .map_err(|undelivered| undelivered.error)
    }

    /// Delivers `message`, retrying on a fresh task when the previous one vanished;
    /// gives the message back with the reason when it cannot.
    async fn send_message(
        &self,
        mut message: Message<A>,
        mode: Mode,
    ) -> Result<(), Undelivered<A>> {
        for _ in 0..MAX_DELIVERY_ATTEMPTS {
            let acquired = match self.acquire() {
                Ok(acquired) => acquired,
                Err(error) => return Err(Undelivered { message, error }),
            };
            let returned = match mode {
                Mode::Wait => match acquired.cell.tx.send(message).await {
                    Ok(()) => return Ok(()),
                    Err(returned) => returned,
                },
                Mode::NoWait => match acquired.cell.tx.try_send(message) {
                    Ok(()) => return Ok(()),
                    Err(TrySendError::Full(message)) => {
                        let error = AskError::MailboxFull {
                            actor_id: self.stored_id.to_string(),
                        };
                        return Err(Undelivered { message, error });
                    }
                    Err(TrySendError::Closed(returned)) => returned,
                },
            };
            if let Err(error) = self.on_closed(&acquired) {
                return Err(Undelivered {
                    message: returned,
                    error,
                });
            }
            message = returned;
        }
        let error = self.ended_error();
        Err(Undelivered { message, error })
    }

    /// The mailbox was closed under us: report why, or forget the dead cell so the next
    /// attempt starts a fresh task.
    fn on_closed(&self, acquired: &Acquired<A>) -> Result<(), AskError<A::Error>> {
        if let Some(terminal) = acquired.cell.shared.terminal.get() {
            return Err(self.terminal_error(terminal));
        }
        self.refuse_if_shutting_down()?;
        // The task ended without a reason (aborted): start a new one.
        self.registry
            .remove_generation(&self.stored_id, acquired.cell.generation);
        Ok(())
    }

    fn refuse_if_shutting_down(&self) -> Result<(), AskError<A::Error>> {
        let context = &self.runtime.inner.context;
        if context.is_shutting_down() {
            return Err(context.shutting_down_error(&self.stored_id));
        }
        Ok(())
    }

    fn terminal_error(&self, terminal: &Terminal) -> AskError<A::Error> {
        match terminal {
            Terminal::StartFailed(err) => AskError::StartFailed(Arc::clone(err)),
            Terminal::Stopped { version, reason } => AskError::Stopped {
                actor_id: self.stored_id.to_string(),
                version: *version,
                reason: reason.clone(),
            },
        }
    }

    /// The error for a reply channel dropped without an answer: the task was aborted.
    fn ended_error(&self) -> AskError<A::Error> {
        if self.runtime.is_shutting_down() {
            self.runtime
                .inner
                .context
                .shutting_down_error(&self.stored_id)
        } else {
            AskError::Interrupted {
                actor_id: self.stored_id.to_string(),
            }
        }
    }
}

impl Runtime {
    /// The handle of actor `id` of type `A`, starting its task if it is not running.
    ///
    /// Handles are cheap to clone and stay valid across passivation: a command sent to a
    /// passivated actor starts it again. Any number of concurrent calls for one id start
    /// one task. An empty `id` gives a handle whose asks fail with
    /// [`AskError::InvalidId`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (starting the actor's task needs one).
    pub fn actor<A: EventSourced>(&self, id: impl AsRef<str>) -> ActorRef<A> {
        let registry = self.registry::<A>();
        let actor_ref = ActorRef::new(self.clone(), registry, id.as_ref());
        actor_ref.ensure_started();
        actor_ref
    }
}

/// A message that could not be delivered, and why.
struct Undelivered<A: EventSourced> {
    message: Message<A>,
    error: AskError<A::Error>,
}

impl<A: EventSourced> Undelivered<A> {
    fn into_not_delivered(self) -> NotDelivered<A::Command, A::Error> {
        match self.message {
            Message::Command(envelope) => NotDelivered {
                command: envelope.command,
                error: self.error,
            },
            Message::Applied(_) | Message::Passivate => {
                unreachable!("only commands are told")
            }
        }
    }
}

/// How often a command is offered to a fresh task when the previous one vanished.
const MAX_DELIVERY_ATTEMPTS: usize = 3;
