//! The actor's state and its life: start, serve the mailbox, passivate, stop, end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{debug, warn, Instrument};

use crate::context::Context;
use crate::error::{AskError, StartError};
use crate::idempotency::RecentCommands;
use crate::mailbox::{self, Envelope, Message};
use crate::registry::{NewTask, Registry, Shared, Terminal};
use crate::EventSourced;

/// Starts the task of a new actor; called by the registry once its cell is in place.
pub(crate) fn spawn<A: EventSourced>(new: NewTask<A>) -> AbortHandle {
    let NewTask {
        registry,
        context,
        stored_id,
        mailbox,
        shared,
        generation,
        live,
    } = new;
    shared
        .last_active
        .store(context.clock.load(Ordering::Relaxed), Ordering::Relaxed);
    context.counters.spawned.fetch_add(1, Ordering::Relaxed);
    context.counters.live.fetch_add(1, Ordering::AcqRel);
    let actor = Actor {
        context,
        registry,
        shared,
        stored_id,
        generation,
        state: A::default(),
        version: 0,
        reload: Reload::None,
        in_flight: 0,
        last_snapshot_version: 0,
        ids_unknown_through: 0,
        rare: None,
    };
    tokio::spawn(actor.run(mailbox, live)).abort_handle()
}

/// What the actor must do before its next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reload {
    /// State and version match the store as far as the actor knows.
    None,
    /// State may differ from the store (events applied before an append that failed, or
    /// a panic in `apply`): rebuild from the snapshot and the events after it.
    Full,
}

pub(super) struct Actor<A: EventSourced> {
    /// What every task of the runtime shares: stores, bus, clock, counters.
    pub(super) context: Arc<Context>,
    pub(super) registry: Arc<Registry<A>>,
    pub(super) shared: Arc<Shared>,
    /// `"{ACTOR_TYPE}|{id}"`, shared with the registry's key and the handles.
    pub(super) stored_id: Arc<str>,
    pub(super) generation: u64,
    pub(super) state: A,
    pub(super) version: i64,
    pub(super) reload: Reload,
    /// Commands taken from the mailbox and not answered yet (for counting what an
    /// aborted task interrupted).
    pub(super) in_flight: u32,
    pub(super) last_snapshot_version: i64,
    /// The command ids of events up to this version (those folded into the snapshot the
    /// actor started from) are not loaded yet: they are read on the first command that
    /// carries a command id, so commands without one never pay for it. 0: all known.
    pub(super) ids_unknown_through: i64,
    /// State most actors never need, allocated on first use: an idle actor's task stays
    /// small.
    pub(super) rare: Option<Box<Rare<A::Reply>>>,
}

#[derive(Debug)]
pub(super) struct Rare<R> {
    pub(super) recent: RecentCommands<R>,
    pub(super) snapshot_in_flight: Arc<AtomicBool>,
    pub(super) panics: VecDeque<Instant>,
    /// Set when the actor panicked too often: it answers the rest of its mailbox with
    /// this reason and ends.
    pub(super) stopped: Option<String>,
}

impl<R> Default for Rare<R> {
    fn default() -> Self {
        Rare {
            recent: RecentCommands::default(),
            snapshot_in_flight: Arc::default(),
            panics: VecDeque::new(),
            stopped: None,
        }
    }
}

pub(super) type Mailbox<A> = mailbox::Receiver<Message<A>>;

impl<A: EventSourced> Actor<A> {
    /// The actor's id as given to `Runtime::actor`.
    pub(super) fn id(&self) -> &str {
        crate::id::plain_id::<A>(&self.stored_id)
    }

    /// The task's body. Not an `async fn`: an async fn stores its arguments twice in
    /// its future (rust-lang/rust#62958), and this future is what every idle actor costs.
    fn run(
        self,
        mailbox: Mailbox<A>,
        live: mpsc::Sender<()>,
    ) -> impl std::future::Future<Output = ()> + Send {
        // Counts the task out, and what it leaves undelivered, even when it is aborted.
        crate::obs::live_actors(A::ACTOR_TYPE, 1.0);
        let mut task = Task {
            actor: self,
            mailbox,
            _live: live,
        };
        async move {
            // Boxed: the rehydration's locals need not stay in every idle actor's task.
            // The start's result is consumed before `serve`, so it takes no room in the
            // idle task.
            let started = match Box::pin(task.actor.start()).await {
                Ok(()) => true,
                Err(err) => {
                    task.actor.fail_start(err, &mut task.mailbox);
                    false
                }
            };
            if started {
                task.actor.serve(&mut task.mailbox).await;
            }
            // `task` is dropped with the finished future (tokio drops it at once), its
            // fields in order: the liveness token last, so `shutdown` returns only after
            // the task has released its handles. Not moved out here: a moved capture is
            // stored twice in the future, which every idle actor would pay for.
        }
    }

    pub(super) async fn start(&mut self) -> Result<(), StartError> {
        let span = tracing::debug_span!(
            "aether.rehydrate",
            actor_type = A::ACTOR_TYPE,
            actor_id = %self.id(),
            version = tracing::field::Empty,
        );
        let started = self.rehydrate().instrument(span.clone()).await;
        span.record("version", self.version);
        crate::obs::rehydration(A::ACTOR_TYPE);
        started
    }

    pub(super) async fn serve(&mut self, rx: &mut Mailbox<A>) {
        let passivates = self.registry.idle_ticks.is_some();
        // `None`: the sender is gone, which only happens at shutdown.
        while let Some(message) = rx.recv().await {
            match message {
                Message::Command(envelope) => {
                    // What still waits behind the command just taken (a lock: only
                    // with the feature).
                    #[cfg(feature = "metrics")]
                    crate::obs::mailbox_depth(A::ACTOR_TYPE, rx.len());
                    match self.take_batch(envelope, rx) {
                        Taken::One(envelope) => {
                            self.in_flight = 1;
                            Box::pin(self.handle(*envelope)).await;
                        }
                        Taken::Many(batch) => {
                            self.in_flight = u32::try_from(batch.len()).unwrap_or(u32::MAX);
                            Box::pin(self.handle_batch(batch)).await;
                        }
                    }
                    self.in_flight = 0;
                    if passivates {
                        let now = self.context.clock.load(Ordering::Relaxed);
                        self.shared.last_active.store(now, Ordering::Relaxed);
                    }
                    if let Some(reason) = self.rare.as_ref().and_then(|r| r.stopped.clone()) {
                        self.stop(reason, rx);
                        return;
                    }
                }
                // One boxed future holding the inquiry: the idle task stays small.
                Message::Applied(inquiry) => Box::pin(self.answer_inquiry(inquiry)).await,
                Message::Passivate => {
                    self.shared
                        .passivate_requested
                        .store(false, Ordering::Release);
                    if self.is_idle() && self.try_passivate(rx) {
                        return;
                    }
                }
            }
        }
    }

    /// The command just taken alone, or with the commands queued right behind it, up to
    /// [`max_batch`](crate::ActorConfig::max_batch). Never waits for more.
    fn take_batch(&self, first: Box<Envelope<A>>, rx: &mut Mailbox<A>) -> Taken<A> {
        let max = self.registry.config.max_batch;
        if max <= 1 {
            return Taken::One(first);
        }
        let Some(Message::Command(second)) = rx.try_recv_if(is_command) else {
            return Taken::One(first);
        };
        let mut batch = Vec::with_capacity(max.min(rx.len() + 2));
        batch.push(first);
        batch.push(second);
        while batch.len() < max {
            match rx.try_recv_if(is_command) {
                Some(Message::Command(next)) => batch.push(next),
                _ => break,
            }
        }
        // The depth metric stays one sample per command taken: what waited behind each.
        #[cfg(feature = "metrics")]
        {
            let left = rx.len();
            for behind in (0..batch.len() - 1).rev() {
                crate::obs::mailbox_depth(A::ACTOR_TYPE, left + behind);
            }
        }
        Taken::Many(batch)
    }

    /// Whether no command was handled for the configured idle time (in sweep ticks).
    pub(super) fn is_idle(&self) -> bool {
        let Some(idle_ticks) = self.registry.idle_ticks else {
            return false;
        };
        let now = self.context.clock.load(Ordering::Relaxed);
        now.saturating_sub(self.shared.last_active.load(Ordering::Relaxed)) >= idle_ticks
    }

    /// Leaves the registry if nobody is sending and nothing is queued.
    pub(super) fn try_passivate(&mut self, mailbox: &Mailbox<A>) -> bool {
        let removed = self
            .registry
            .try_passivate(&self.stored_id, self.generation, mailbox);
        if removed {
            debug!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version = self.version, "passivated");
            self.context
                .counters
                .passivated
                .fetch_add(1, Ordering::Relaxed);
            crate::obs::passivation(A::ACTOR_TYPE);
        }
        removed
    }

    pub(super) fn fail_start(&mut self, err: StartError, rx: &mut Mailbox<A>) {
        let err = Arc::new(err);
        warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), error = %err, "actor failed to start");
        let _ = self
            .shared
            .terminal
            .set(Box::new(Terminal::StartFailed(err.clone())));
        // The next ask (after those already queued) tries to start it again.
        self.registry
            .remove_generation(&self.stored_id, self.generation);
        rx.close();
        while let Some(message) = rx.try_recv() {
            answer(message, || AskError::StartFailed(Arc::clone(&err)));
        }
    }

    pub(super) fn stop(&mut self, reason: String, rx: &mut Mailbox<A>) {
        warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version = self.version, %reason, "actor stopped");
        let _ = self.shared.terminal.set(Box::new(Terminal::Stopped {
            version: self.version,
            reason: reason.clone(),
        }));
        rx.close();
        while let Some(message) = rx.try_recv() {
            answer(message, || AskError::Stopped {
                actor_id: self.stored_id.to_string(),
                version: self.version,
                reason: reason.clone(),
            });
        }
    }

    pub(super) fn rare(&mut self) -> &mut Rare<A::Reply> {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// A running actor task's state. Its fields drop in order, the liveness token last:
/// `shutdown`, which waits for every token, returns only once the task has released the
/// runtime and the store.
struct Task<A: EventSourced> {
    actor: Actor<A>,
    mailbox: Mailbox<A>,
    _live: mpsc::Sender<()>,
}

impl<A: EventSourced> Drop for Task<A> {
    fn drop(&mut self) {
        crate::obs::live_actors(A::ACTOR_TYPE, -1.0);
        // After a normal end the mailbox is empty; an aborted task (or one whose tokio
        // runtime stopped) leaves commands behind: count them for the runtime's warning.
        let mut dropped = 0u64;
        while let Some(message) = self.mailbox.try_recv() {
            if matches!(message, Message::Command(_)) {
                dropped += 1;
            }
        }
        let counters = &self.actor.context.counters;
        if dropped > 0 || self.actor.in_flight > 0 {
            counters.dropped.fetch_add(dropped, Ordering::Relaxed);
            counters
                .interrupted
                .fetch_add(u64::from(self.actor.in_flight), Ordering::Relaxed);
            debug!(actor_type = A::ACTOR_TYPE, actor_id = %self.actor.id(), dropped, interrupted = self.actor.in_flight, "actor task ended with commands undelivered");
        }
        counters.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the mailbox loop took: one command, or several queued ones (in mailbox order).
#[allow(clippy::vec_box)] // boxed as they came from the mailbox: no move out of the box
enum Taken<A: EventSourced> {
    One(Box<Envelope<A>>),
    Many(Vec<Box<Envelope<A>>>),
}

fn is_command<A: EventSourced>(message: &Message<A>) -> bool {
    matches!(message, Message::Command(_))
}

/// Answers a message the actor will not handle with `error`.
fn answer<A: EventSourced>(message: Message<A>, error: impl Fn() -> AskError<A::Error>) {
    match message {
        Message::Command(envelope) => {
            if let Some(reply) = envelope.reply {
                let _ = reply.send(Err(error()));
            }
        }
        Message::Applied(inquiry) => {
            let _ = inquiry.reply.send(Err(error()));
        }
        Message::Passivate => {}
    }
}
