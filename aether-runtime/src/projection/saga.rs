//! Process managers (sagas): projections whose handler sends commands to actors.
//!
//! A process manager reacts to events by asking actors to do things: an order placed
//! reserves stock, a payment failed releases it. It runs as a projection, so it sees
//! every event once it is stored, across restarts, at least once. What makes the
//! commands' effects happen once is the command id: [`Commands::ask`] gives each command
//! an id derived from the event's id and the command's place among that event's
//! commands (`"{event id}/{n}"`). After a crash the projection handles the event again,
//! sends the same commands with the same ids, and each actor recognises the ids it has
//! already applied (within its
//! [idempotency window](crate::ActorConfig::idempotency_window)): it answers the first
//! reply, or [`Sent::AppliedBefore`] when the reply is no longer kept.
//!
//! For this to hold, a reaction must send the same commands in the same order when it
//! handles an event again: decide from the event (and from actors' replies), not from a
//! clock or a random number. A command that an actor rejected stored nothing, so it is
//! decided again on a replay (with the actor's state of then).

use std::fmt;
use std::sync::Arc;

use aether_core::{
    async_trait, AtLeastOnce, CheckpointStore, EventFeed, FeedEvent, HandlerError, Projection,
};

use super::{ProjectionHandle, ProjectionOptions};
use crate::{AppliedCommand, AskError, AskOptions, EventSourced, Runtime};

/// A process manager: reacts to events by sending commands through [`Commands`].
///
/// ```
/// # #![allow(dead_code)]
/// use aether_core::{async_trait, FeedEvent, HandlerError};
/// use aether_runtime::projection::{Commands, ProcessManager};
/// # use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
/// # #[derive(Default, serde::Serialize, serde::Deserialize)]
/// # struct Mailer { sent: u32 }
/// # #[derive(Debug)] enum Sent { Sent }
/// # impl DomainEvent for Sent {
/// #     fn event_type(&self) -> &'static str { "Sent" }
/// #     fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> { Ok(serde_json::json!({})) }
/// #     fn from_data(_: &str, _: &serde_json::Value) -> Result<Self, EventDecodeError> { Ok(Sent::Sent) }
/// # }
/// # impl EventSourced for Mailer {
/// #     const ACTOR_TYPE: &'static str = "Mailer";
/// #     type Command = String; type Event = Sent; type Reply = (); type Error = std::convert::Infallible;
/// #     fn decide(&self, _: &String) -> Result<Decision<Sent, ()>, std::convert::Infallible> {
/// #         Ok(Decision::new(vec![Sent::Sent], ()))
/// #     }
/// #     fn apply(&mut self, _: &Sent) { self.sent += 1; }
/// # }
///
/// /// Sends a welcome mail for every account opened.
/// struct Welcome;
///
/// #[async_trait]
/// impl ProcessManager for Welcome {
///     async fn react(&mut self, event: &FeedEvent, commands: &mut Commands<'_>) -> Result<(), HandlerError> {
///         if event.event.event_type == "Opened" {
///             // The command id is "{event id}/0": a replay of this event sends it again
///             // with the same id, and the mailer does not send twice.
///             commands.ask::<Mailer>("welcome", format!("welcome {}", event.event.actor_id)).await?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait ProcessManager: Send + 'static {
    /// Reacts to one event. An error stops the process manager at this event, like any
    /// projection's handler error (the commands already sent for it are not sent twice
    /// when it is handled again: their ids are the same).
    async fn react(
        &mut self,
        event: &FeedEvent,
        commands: &mut Commands<'_>,
    ) -> Result<(), HandlerError>;
}

/// The outcome of a command a process manager sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent<R> {
    /// The actor applied the command now, or had applied it and still kept the reply.
    Replied(R),
    /// The actor had applied this command id before (an earlier run of the process
    /// manager, before a crash) and no longer keeps the reply: its events have these
    /// versions.
    AppliedBefore(AppliedCommand),
}

impl<R> Sent<R> {
    /// The reply, if the actor still had it.
    pub fn reply(self) -> Option<R> {
        match self {
            Sent::Replied(reply) => Some(reply),
            Sent::AppliedBefore(_) => None,
        }
    }
}

/// Sends the commands of one reaction, with ids derived from the event's id.
pub struct Commands<'a> {
    runtime: &'a Runtime,
    event_id: &'a str,
    next: u32,
}

impl fmt::Debug for Commands<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands")
            .field("event_id", &self.event_id)
            .field("sent", &self.next)
            .finish()
    }
}

impl Commands<'_> {
    /// The runtime the commands go to.
    pub fn runtime(&self) -> &Runtime {
        self.runtime
    }

    /// The id the next command will carry: `"{event id}/{n}"`, `n` counting the
    /// commands sent for this event from 0. Takes it (the next call gives `n + 1`).
    pub fn next_command_id(&mut self) -> String {
        let id = format!("{}/{}", self.event_id, self.next);
        self.next += 1;
        id
    }

    /// The options of the next command: the next derived command id
    /// ([`next_command_id`](Self::next_command_id)). Pass them to the `_with` twin of a
    /// command method generated by `#[aether::commands]`
    /// (`sku.reserve_with(order, 2, commands.options())`); an
    /// [`AskError::Duplicate`] is then the answer to a replay: the command was applied
    /// before.
    pub fn options(&mut self) -> AskOptions {
        AskOptions::new().command_id(self.next_command_id())
    }

    /// Asks actor `id` of type `A` to handle `command`, with the next derived command id.
    ///
    /// # Errors
    ///
    /// The ask's error, as [`ActorRef::ask_with`](crate::ActorRef::ask_with) gives it,
    /// except [`AskError::Duplicate`], which is the expected answer to a replay and comes
    /// back as [`Sent::AppliedBefore`].
    pub async fn ask<A: EventSourced>(
        &mut self,
        id: &str,
        command: A::Command,
    ) -> Result<Sent<A::Reply>, AskError<A::Error>> {
        let command_id = self.next_command_id();
        let options = AskOptions::new().command_id(command_id);
        match self.runtime.actor::<A>(id).ask_with(command, options).await {
            Ok(reply) => Ok(Sent::Replied(reply)),
            Err(AskError::Duplicate {
                version,
                first_version,
                ..
            }) => Ok(Sent::AppliedBefore(AppliedCommand {
                first_version,
                last_version: version,
            })),
            Err(err) => Err(err),
        }
    }
}

/// A [`ProcessManager`] as a [`Projection`]: what [`spawn_process_manager`] runs.
#[derive(Debug)]
pub struct Saga<P> {
    manager: P,
    runtime: Runtime,
}

impl<P> Saga<P> {
    /// The process manager `manager`, sending its commands to `runtime`.
    pub fn new(manager: P, runtime: Runtime) -> Self {
        Saga { manager, runtime }
    }

    /// The process manager.
    pub fn manager(&self) -> &P {
        &self.manager
    }
}

#[async_trait]
impl<P: ProcessManager> Projection for Saga<P> {
    async fn handle(&mut self, event: &FeedEvent) -> Result<(), HandlerError> {
        let mut commands = Commands {
            runtime: &self.runtime,
            event_id: &event.event.id,
            next: 0,
        };
        self.manager.react(event, &mut commands).await
    }
}

/// Starts process manager `name`: a projection of `feed` whose handler is `manager`,
/// sending commands to `runtime`, its checkpoint kept in `checkpoints` (at least once;
/// the derived command ids make each command take effect once).
pub fn spawn_process_manager<F, C, P>(
    name: impl Into<String>,
    runtime: &Runtime,
    feed: Arc<F>,
    checkpoints: C,
    manager: P,
    options: ProjectionOptions,
) -> ProjectionHandle<AtLeastOnce<Saga<P>, C>>
where
    F: EventFeed + ?Sized,
    C: CheckpointStore,
    P: ProcessManager,
{
    let sink = AtLeastOnce::new(Saga::new(manager, runtime.clone()), checkpoints);
    super::spawn(name, feed, sink, options)
}
