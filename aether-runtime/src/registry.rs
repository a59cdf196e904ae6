//! The registry: which actors are live, starting each one once, passivating idle ones,
//! and clearing them all at shutdown.
//!
//! # Spawn once
//!
//! [`Registry::acquire`] finds an actor's [`Cell`] or, under the registry shard's write
//! lock, inserts a new one and then starts its task: any number of concurrent lookups of
//! one id start one task.
//!
//! # Passivation without loss
//!
//! A sender finds the actor's cell and increments its `pending` count *while holding the
//! registry's shard lock*, then sends, then decrements. An idle actor passivates
//! ([`Registry::try_passivate`]) by removing its cell under the shard's write lock, and
//! only when `pending` is 0 and its mailbox is empty. So either a sender got the cell
//! before the removal (and the actor sees `pending > 0` or a queued message, and stays),
//! or it looks up after the removal and starts a fresh task, which rehydrates from the
//! store. No message is sent to a task that has decided to stop.
//!
//! # The idle sweep
//!
//! One sweep per runtime ([`sweep_idle`]) instead of a timer per actor keeps idle actors
//! small: every tick it advances the clock and asks each actor idle for its type's
//! `passivate_after` to passivate; an actor passivates between `passivate_after` and
//! `passivate_after` plus one tick after its last command.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::config::ActorConfig;
use crate::context::Context;
use crate::error::{AskError, StartError};
use crate::mailbox::{self, Message};
use crate::upcast::Upcasters;
use crate::EventSourced;

/// Why an actor stopped taking commands.
#[derive(Debug, Clone)]
pub(crate) enum Terminal {
    StartFailed(Arc<StartError>),
    Stopped { version: i64, reason: String },
}

/// What the registry holds for a live actor.
pub(crate) struct Cell<A: EventSourced> {
    pub(crate) tx: mailbox::Sender<Message<A>>,
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
    /// The idle sweep's tick when the actor last handled a command.
    pub(crate) last_active: AtomicU64,
    /// A passivation request is queued (so the sweep queues at most one).
    pub(crate) passivate_requested: AtomicBool,
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

/// Everything a new actor task is given.
pub(crate) struct NewTask<A: EventSourced> {
    pub(crate) registry: Arc<Registry<A>>,
    pub(crate) context: Arc<Context>,
    pub(crate) stored_id: Arc<str>,
    pub(crate) mailbox: mailbox::Receiver<Message<A>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) generation: u64,
    /// Keeps shutdown waiting until the task has ended.
    pub(crate) live: mpsc::Sender<()>,
}

/// Starts an actor task (the task module's `spawn`, given here so that the registry
/// does not depend on the task).
pub(crate) type Spawn<A> = fn(NewTask<A>) -> AbortHandle;

/// The live actors of one type.
pub(crate) struct Registry<A: EventSourced> {
    actors: DashMap<Arc<str>, Arc<Cell<A>>>,
    pub(crate) config: ActorConfig,
    /// `passivate_after` in idle-sweep ticks.
    pub(crate) idle_ticks: Option<u64>,
    next_generation: AtomicU64,
    spawn: Spawn<A>,
    /// `A::upcasters()`, built once.
    pub(crate) upcasters: Upcasters,
}

impl<A: EventSourced> Registry<A> {
    pub(crate) fn new(config: ActorConfig, tick: Option<Duration>, spawn: Spawn<A>) -> Self {
        let idle_ticks = match (config.passivate_after, tick) {
            (Some(idle), Some(tick)) => {
                Some(idle.as_nanos().div_ceil(tick.as_nanos()).max(1) as u64)
            }
            _ => None,
        };
        Registry {
            actors: DashMap::new(),
            config,
            idle_ticks,
            next_generation: AtomicU64::new(0),
            spawn,
            upcasters: A::upcasters(),
        }
    }

    /// The cell of actor `stored_id`, starting its task if none runs, with `pending`
    /// held.
    ///
    /// # Errors
    ///
    /// [`AskError::ShuttingDown`] once shutdown has begun.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        context: &Arc<Context>,
        stored_id: &Arc<str>,
    ) -> Result<Acquired<A>, AskError<A::Error>> {
        if let Some(cell) = self.actors.get(stored_id) {
            cell.shared.pending.fetch_add(1, Ordering::AcqRel);
            return Ok(Acquired {
                cell: Arc::clone(cell.value()),
            });
        }
        let mut start = None;
        // `pending` is taken while the shard's write lock is held, in both arms.
        let cell = match self.actors.entry(Arc::clone(stored_id)) {
            dashmap::Entry::Occupied(occupied) => {
                occupied.get().shared.pending.fetch_add(1, Ordering::AcqRel);
                Arc::clone(occupied.get())
            }
            dashmap::Entry::Vacant(vacant) => {
                let live = context
                    .live_token()
                    .ok_or_else(|| context.shutting_down_error(stored_id))?;
                let (tx, mailbox) = mailbox::channel(self.config.mailbox_capacity);
                let shared = Arc::new(Shared::default());
                let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                let cell = Arc::new(Cell {
                    tx,
                    shared: Arc::clone(&shared),
                    generation,
                    abort: OnceLock::new(),
                });
                cell.shared.pending.fetch_add(1, Ordering::AcqRel);
                start = Some(NewTask {
                    registry: Arc::clone(self),
                    context: Arc::clone(context),
                    stored_id: Arc::clone(stored_id),
                    mailbox,
                    shared,
                    generation,
                    live,
                });
                Arc::clone(vacant.insert(cell).value())
            }
        };
        // Started after the shard lock is released: the task may passivate at once.
        if let Some(new_task) = start {
            let _ = cell.abort.set((self.spawn)(new_task));
        }
        Ok(Acquired { cell })
    }

    /// Removes the cell of `stored_id` if it is still the one of `generation` (its task
    /// ended: a failed start, or aborted).
    pub(crate) fn remove_generation(&self, stored_id: &str, generation: u64) {
        self.actors
            .remove_if(stored_id, |_, cell| cell.generation == generation);
    }

    /// Leaves the registry if nobody is sending and nothing is queued; see the module
    /// docs. Returns whether the actor left (and must end).
    pub(crate) fn try_passivate(
        &self,
        stored_id: &str,
        generation: u64,
        mailbox: &mailbox::Receiver<Message<A>>,
    ) -> bool {
        self.actors
            .remove_if(stored_id, |_, cell| {
                cell.generation == generation
                    && cell.shared.pending.load(Ordering::Acquire) == 0
                    && mailbox.is_empty()
            })
            .is_some()
    }
}

/// The registries of every actor type of a runtime.
#[derive(Default)]
pub(crate) struct Registries {
    by_type: DashMap<TypeId, Arc<dyn ErasedRegistry>>,
}

impl Registries {
    /// Actor type `A`'s registry, made by `make` on first use.
    pub(crate) fn of<A: EventSourced>(
        &self,
        make: impl FnOnce() -> Registry<A>,
    ) -> Arc<Registry<A>> {
        let key = TypeId::of::<A>();
        if let Some(existing) = self.by_type.get(&key) {
            return downcast(existing.value());
        }
        let entry = self.by_type.entry(key).or_insert_with(|| {
            let registry: Arc<dyn ErasedRegistry> = Arc::new(make());
            registry
        });
        downcast(entry.value())
    }

    /// Removes every actor (dropping the mailbox senders, so each task ends once its
    /// mailbox is drained) and returns the tasks' abort handles.
    pub(crate) fn clear(&self) -> Vec<AbortHandle> {
        self.all().iter().flat_map(|r| r.clear()).collect()
    }

    /// Messages waiting in mailboxes now.
    pub(crate) fn queued(&self) -> usize {
        self.all().iter().map(|r| r.queued()).sum()
    }

    fn all(&self) -> Vec<Arc<dyn ErasedRegistry>> {
        self.by_type.iter().map(|r| r.value().clone()).collect()
    }
}

fn downcast<A: EventSourced>(erased: &Arc<dyn ErasedRegistry>) -> Arc<Registry<A>> {
    match erased.clone().into_any().downcast::<Registry<A>>() {
        Ok(registry) => registry,
        Err(_) => unreachable!("the registry under a TypeId has that type"),
    }
}

/// The operations on a registry that do not depend on its actor type.
trait ErasedRegistry: Send + Sync + 'static {
    fn clear(&self) -> Vec<AbortHandle>;
    fn queued(&self) -> usize;
    /// Asks every actor idle since before `now - idle_ticks` to passivate.
    fn sweep(&self, now: u64);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<A: EventSourced> ErasedRegistry for Registry<A> {
    fn clear(&self) -> Vec<AbortHandle> {
        let mut handles = Vec::new();
        self.actors.retain(|_, cell| {
            handles.extend(cell.abort.get().cloned());
            false
        });
        handles
    }

    fn queued(&self) -> usize {
        self.actors.iter().map(|cell| cell.tx.len()).sum()
    }

    fn sweep(&self, now: u64) {
        let Some(idle_ticks) = self.idle_ticks else {
            return;
        };
        for cell in self.actors.iter() {
            let shared = &cell.shared;
            let idle = now.saturating_sub(shared.last_active.load(Ordering::Relaxed)) >= idle_ticks;
            if idle
                && shared.pending.load(Ordering::Acquire) == 0
                && !shared.passivate_requested.swap(true, Ordering::AcqRel)
            {
                // Sent under the shard's read lock, like any command (see above). A full
                // mailbox means it is not idle after all.
                if cell.tx.try_send(Message::Passivate).is_err() {
                    shared.passivate_requested.store(false, Ordering::Release);
                }
            }
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Bounds of the idle sweep's period.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_secs(1);

/// The idle sweep's period for the shortest `passivate_after` of any actor type: a
/// quarter of it, within bounds; `None` when nothing passivates.
pub(crate) fn sweep_tick(shortest_idle: Option<Duration>) -> Option<Duration> {
    shortest_idle.map(|idle| (idle / 4).clamp(MIN_TICK, MAX_TICK))
}

/// Every tick: advance the clock and ask idle actors to passivate. Ends with the
/// runtime, or when shutdown begins.
pub(crate) async fn sweep_idle(
    context: Weak<Context>,
    registries: Weak<Registries>,
    tick: Duration,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let (Some(context), Some(registries)) = (context.upgrade(), registries.upgrade()) else {
            return;
        };
        if context.is_shutting_down() {
            return;
        }
        let now = context.clock.fetch_add(1, Ordering::Relaxed) + 1;
        for registry in registries.all() {
            registry.sweep(now);
        }
    }
}
