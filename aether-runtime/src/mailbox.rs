//! Mailboxes and the registry's per-actor cells: how a command reaches an actor's task,
//! and how passivation and shutdown avoid losing one.
//!
//! A sender finds the actor's [`Cell`] in the registry and increments its `pending`
//! count *while holding the registry's shard lock*, then sends, then decrements. An
//! idle actor passivates by removing its cell under the shard's write lock, and only
//! when `pending` is 0 and its mailbox is empty. So either a sender got the cell before
//! the removal (and the actor sees `pending > 0` or a queued message, and stays), or it
//! looks up after the removal and starts a fresh task, which rehydrates from the store.
//! No message is sent to a task that has decided to stop.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::channel;

use crate::error::{AskError, StartError};
use crate::runtime::Registry;
use crate::{EventSourced, Runtime};

/// The reply channel of one ask.
pub(crate) type ReplyTx<A> =
    oneshot::Sender<Result<<A as EventSourced>::Reply, AskError<<A as EventSourced>::Error>>>;

/// One command in a mailbox. Boxed in the channel, so an idle mailbox's buffer holds
/// pointers, not commands.
pub(crate) struct Envelope<A: EventSourced> {
    pub(crate) command: A::Command,
    pub(crate) command_id: Option<String>,
    /// `None` for `tell`.
    pub(crate) reply: Option<ReplyTx<A>>,
}

/// A question about a command id ([`ActorRef::applied`](crate::ActorRef::applied)).
pub(crate) struct Inquiry<A: EventSourced> {
    pub(crate) command_id: String,
    pub(crate) reply: oneshot::Sender<
        Result<Option<crate::AppliedCommand>, AskError<<A as EventSourced>::Error>>,
    >,
}

/// What a mailbox carries.
pub(crate) enum Message<A: EventSourced> {
    /// A command from a handle (boxed: an idle mailbox's buffer holds pointers).
    Command(Box<Envelope<A>>),
    /// Whether a command id was applied.
    Applied(Box<Inquiry<A>>),
    /// From the runtime's idle sweep: passivate if still idle.
    Passivate,
}

/// Why an actor stopped taking commands.
#[derive(Debug, Clone)]
pub(crate) enum Terminal {
    StartFailed(Arc<StartError>),
    Stopped { version: i64, reason: String },
}

/// What the registry holds for a live actor.
pub(crate) struct Cell<A: EventSourced> {
    pub(crate) tx: channel::Sender<Message<A>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) generation: u64,
    pub(crate) abort: OnceLock<AbortHandle>,
}

/// The part of a cell the actor task also holds (the task must not hold the mailbox
/// sender, or its mailbox would never close).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) pending: AtomicUsize,
    pub(crate) terminal: OnceLock<Box<Terminal>>,
    /// The runtime's idle-sweep tick when the actor last handled a command.
    pub(crate) last_active: AtomicU64,
    /// A passivation request is queued (so the sweep queues at most one).
    pub(crate) passivate_requested: std::sync::atomic::AtomicBool,
}

/// A cell with its `pending` count held; released on drop.
pub(crate) struct Acquired<A: EventSourced> {
    pub(crate) cell: Arc<Cell<A>>,
}

impl<A: EventSourced> Drop for Acquired<A> {
    fn drop(&mut self) {
        self.cell.shared.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<A: EventSourced> Registry<A> {
    /// The cell of actor `id`, spawning its task if none runs, with `pending` held.
    ///
    /// # Errors
    ///
    /// [`AskError::ShuttingDown`] once shutdown has begun.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        runtime: &Runtime,
        stored_id: &Arc<str>,
    ) -> Result<Acquired<A>, AskError<A::Error>> {
        if let Some(cell) = self.actors.get(stored_id) {
            cell.shared.pending.fetch_add(1, Ordering::AcqRel);
            return Ok(Acquired {
                cell: Arc::clone(cell.value()),
            });
        }
        let shutting_down = || runtime.shutting_down_error(stored_id);
        let mut spawned = None;
        // `pending` is taken while the shard's write lock is held, in both arms.
        let cell = match self.actors.entry(Arc::clone(stored_id)) {
            dashmap::Entry::Occupied(occupied) => {
                occupied.get().shared.pending.fetch_add(1, Ordering::AcqRel);
                Arc::clone(occupied.get())
            }
            dashmap::Entry::Vacant(vacant) => {
                let live = runtime.live_token().ok_or_else(shutting_down)?;
                let (cell, start) = crate::task::prepare::<A>(
                    runtime.internal(),
                    Arc::clone(self),
                    Arc::clone(stored_id),
                    live,
                );
                cell.shared.pending.fetch_add(1, Ordering::AcqRel);
                vacant.insert(Arc::clone(&cell));
                spawned = Some(start);
                cell
            }
        };
        if let Some(start) = spawned {
            start();
        }
        Ok(Acquired { cell })
    }

    /// Removes the cell of `id` if it is still the one of `generation`.
    pub(crate) fn remove_generation(&self, id: &str, generation: u64) {
        self.actors
            .remove_if(id, |_, cell| cell.generation == generation);
    }
}
