//! [`Runtime`]: owns the store, the registry of live actors, the event bus.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aether_core::{EventStore, SnapshotStore};
use dashmap::DashMap;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::actor_ref::ActorRef;
use crate::bus::{EventBus, Subscription, SubscriptionFilter};
use crate::config::ActorConfig;
use crate::error::ShutdownTimeout;
use crate::mailbox::{Cell, Message};
use crate::EventSourced;

/// The separator between actor type and id in stored actor ids: `"{ACTOR_TYPE}|{id}"`.
pub const ACTOR_ID_SEPARATOR: char = '|';

/// The stored actor id of actor `id` of type `A`: `"{A::ACTOR_TYPE}|{id}"`.
///
/// Two actor types with the same id therefore never share a history. Actor type names
/// may not contain `|`, so the mapping cannot collide; ids may contain anything.
pub fn stored_actor_id<A: EventSourced>(id: &str) -> String {
    let mut stored = String::with_capacity(A::ACTOR_TYPE.len() + 1 + id.len());
    stored.push_str(A::ACTOR_TYPE);
    stored.push(ACTOR_ID_SEPARATOR);
    stored.push_str(id);
    stored
}

/// The id given to `Runtime::actor`, from a stored id made by [`stored_actor_id`].
pub(crate) fn plain_id<A: EventSourced>(stored_id: &str) -> &str {
    stored_id
        .get(A::ACTOR_TYPE.len() + ACTOR_ID_SEPARATOR.len_utf8()..)
        .unwrap_or_default()
}

/// Builds a [`Runtime`]: defaults for every actor type, overrides for some.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use aether_core::InMemoryStore;
/// use aether_runtime::Runtime;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runtime = Runtime::builder(Arc::new(InMemoryStore::new()))
///     .mailbox_capacity(128)
///     .snapshot_every(1_000)
///     .passivate_after(Some(Duration::from_secs(60)))
///     .conflict_retries(5)
///     .ask_timeout(Some(Duration::from_secs(5)))
///     .build();
/// # runtime.shutdown().await;
/// # });
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeBuilder {
    events: Arc<dyn EventStore>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    defaults: ActorConfig,
    overrides: HashMap<TypeId, Box<dyn Fn(ActorConfig) -> ActorConfig + Send + Sync>>,
    bus_capacity: usize,
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("snapshots", &self.snapshots.is_some())
            .field("defaults", &self.defaults)
            .field("overrides", &self.overrides.len())
            .field("bus_capacity", &self.bus_capacity)
            .finish()
    }
}

impl RuntimeBuilder {
    /// Sets the default [`ActorConfig::mailbox_capacity`].
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.defaults = self.defaults.mailbox_capacity(capacity);
        self
    }

    /// Sets the default [`ActorConfig::snapshot_every`] (0: never). An actor type's
    /// [`EventSourced::SNAPSHOT_EVERY`] takes precedence, and [`configure`](Self::configure)
    /// over both.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.defaults = self.defaults.snapshot_every(events);
        self
    }

    /// Sets the default [`ActorConfig::passivate_after`].
    pub fn passivate_after(mut self, idle: Option<Duration>) -> Self {
        self.defaults = self.defaults.passivate_after(idle);
        self
    }

    /// Sets the default [`ActorConfig::conflict_retries`].
    pub fn conflict_retries(mut self, retries: u32) -> Self {
        self.defaults = self.defaults.conflict_retries(retries);
        self
    }

    /// Sets the default [`ActorConfig::ask_timeout`].
    pub fn ask_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.defaults = self.defaults.ask_timeout(timeout);
        self
    }

    /// Sets the default [`ActorConfig::idempotency_window`].
    pub fn idempotency_window(mut self, versions: u64) -> Self {
        self.defaults = self.defaults.idempotency_window(versions);
        self
    }

    /// Sets the default [`ActorConfig::kept_replies`].
    pub fn kept_replies(mut self, replies: usize) -> Self {
        self.defaults = self.defaults.kept_replies(replies);
        self
    }

    /// Sets the default panic limit ([`ActorConfig::max_panics`] within
    /// [`ActorConfig::panic_window`]).
    pub fn max_panics(mut self, panics: u32, window: Duration) -> Self {
        self.defaults = self.defaults.max_panics(panics, window);
        self
    }

    /// How many events the [event bus](Runtime::subscribe) keeps for slow subscribers
    /// before they lag (default 4,096).
    pub fn bus_capacity(mut self, capacity: usize) -> Self {
        self.bus_capacity = capacity.max(1);
        self
    }

    /// Overrides settings for actor type `A`, starting from the defaults:
    ///
    /// ```ignore
    /// builder.configure::<Account>(|c| c.snapshot_every(100).mailbox_capacity(1_024))
    /// ```
    pub fn configure<A: EventSourced>(
        mut self,
        f: impl Fn(ActorConfig) -> ActorConfig + Send + Sync + 'static,
    ) -> Self {
        self.overrides.insert(TypeId::of::<A>(), Box::new(f));
        self
    }

    /// Builds the runtime. Must be called inside a tokio runtime (actors are tokio tasks).
    pub fn build(self) -> Runtime {
        let (live_tx, live_rx) = mpsc::channel(1);
        // The idle sweep ticks at a quarter of the shortest idle time of any actor type.
        let shortest_idle = std::iter::once(self.defaults.clone())
            .chain(self.overrides.values().map(|f| f(self.defaults.clone())))
            .filter_map(|config| config.passivate_after)
            .min();
        let tick = shortest_idle.map(|idle| (idle / 4).clamp(MIN_TICK, MAX_TICK));
        let inner = Arc::new(Inner {
            events: self.events,
            snapshots: self.snapshots,
            defaults: self.defaults,
            overrides: self.overrides,
            registries: DashMap::new(),
            shutting_down: AtomicBool::new(false),
            live: Mutex::new(Some(live_tx)),
            live_rx: tokio::sync::Mutex::new(live_rx),
            live_count: AtomicUsize::new(0),
            shut_down: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            interrupted: AtomicU64::new(0),
            bus: EventBus::new(self.bus_capacity),
            stats: Stats::default(),
            clock: AtomicU64::new(0),
            tick,
        });
        if let Some(tick) = tick {
            tokio::spawn(sweep_idle(Arc::downgrade(&inner), tick));
        }
        let handles = Arc::new(UserHandles {
            inner: Arc::downgrade(&inner),
        });
        Runtime {
            inner,
            _handles: Some(handles),
        }
    }
}

/// The aether runtime: a registry of event-sourced actors over one store.
///
/// Cheap to clone (all clones are the same runtime). Get an actor's handle with
/// [`actor`](Runtime::actor); its task is started on first use, rehydrated from the
/// store, passivated when idle, and started again on the next command.
///
/// # Shutting down
///
/// Call [`shutdown`](Runtime::shutdown) before the program ends: it drains every
/// mailbox (commands already queued, told ones included, are executed) and returns when
/// every actor task has ended and released the store. A runtime whose last handle
/// (`Runtime` or [`ActorRef`]) is dropped without it begins the same drain in the
/// background and logs at `warn` how many commands were queued; but when the tokio
/// runtime stops first (the end of `#[tokio::main]`), what is still queued is lost, and
/// a second `warn` says how many commands were dropped undelivered.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
    /// Shared by the handles a program holds (`Runtime` clones and `ActorRef`s), not by
    /// the actor tasks: when the last one goes, nobody can send, and the runtime drains.
    _handles: Option<Arc<UserHandles>>,
}

/// Dropped with the last handle a program holds.
struct UserHandles {
    inner: Weak<Inner>,
}

impl Drop for UserHandles {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if inner.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let queued = inner.queued_commands();
        // The abort handles are not used: the actors drain and end by themselves.
        drop(inner.begin_shutdown());
        if queued > 0 {
            tracing::warn!(
                queued,
                "aether runtime dropped without `shutdown().await`: its actors go on with \
                 {queued} queued commands in the background; those still queued when the \
                 tokio runtime stops are lost. Call `runtime.shutdown().await` before the \
                 program ends"
            );
        } else {
            tracing::debug!(
                "aether runtime dropped without `shutdown().await`; nothing was queued"
            );
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("snapshots", &self.inner.snapshots.is_some())
            .field(
                "live_actors",
                &self.inner.live_count.load(Ordering::Relaxed),
            )
            .field(
                "shutting_down",
                &self.inner.shutting_down.load(Ordering::Relaxed),
            )
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) snapshots: Option<Arc<dyn SnapshotStore>>,
    defaults: ActorConfig,
    overrides: HashMap<TypeId, Box<dyn Fn(ActorConfig) -> ActorConfig + Send + Sync>>,
    registries: DashMap<TypeId, Arc<dyn ClearRegistry>>,
    pub(crate) shutting_down: AtomicBool,
    /// Every actor task holds a clone; shutdown drops this one and waits for the rest.
    live: Mutex<Option<mpsc::Sender<()>>>,
    live_rx: tokio::sync::Mutex<mpsc::Receiver<()>>,
    pub(crate) live_count: AtomicUsize,
    /// Set when `shutdown` returned (every actor task ended).
    shut_down: AtomicBool,
    /// Commands an actor task was dropped with, never handled (the task was aborted, or
    /// the tokio runtime stopped under it).
    pub(crate) dropped: AtomicU64,
    /// Commands an actor task was dropped in the middle of: their events may or may not
    /// be stored.
    pub(crate) interrupted: AtomicU64,
    pub(crate) bus: EventBus,
    pub(crate) stats: Stats,
    /// Ticks of the idle sweep so far; actors record it when they handle a command.
    pub(crate) clock: AtomicU64,
    /// The idle sweep's period; `None` when no actor type passivates.
    tick: Option<Duration>,
}

impl Inner {
    /// Stops new work and drops the registry's mailbox senders, so each actor ends once
    /// its mailbox is drained. Returns the tasks' abort handles.
    fn begin_shutdown(&self) -> Vec<AbortHandle> {
        self.shutting_down.store(true, Ordering::Release);
        // From here no actor can be spawned (spawning needs a `live` sender).
        drop(self.live.lock().expect("live lock").take());
        let mut abort = Vec::new();
        for registry in self.registries() {
            abort.extend(registry.clear());
        }
        abort
    }

    /// Commands waiting in mailboxes now.
    fn queued_commands(&self) -> usize {
        self.registries().iter().map(|r| r.queued()).sum()
    }

    fn registries(&self) -> Vec<Arc<dyn ClearRegistry>> {
        self.registries.iter().map(|r| r.value().clone()).collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let dropped = *self.dropped.get_mut();
        let interrupted = *self.interrupted.get_mut();
        if dropped > 0 || interrupted > 0 {
            tracing::warn!(
                dropped,
                interrupted,
                "aether runtime: {dropped} commands were dropped undelivered and {interrupted} \
                 interrupted while being handled (their events may or may not be stored): \
                 the actor tasks ended before draining their mailboxes (the runtime was not \
                 shut down with `shutdown().await` before the tokio runtime stopped, or \
                 `shutdown_timeout` aborted them)"
            );
        }
    }
}

/// Bounds of the idle sweep's period.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_secs(1);

/// Every tick: advance the clock, and ask each actor idle for its type's
/// `passivate_after` to passivate. One sweep per runtime instead of a timer per actor
/// keeps idle actors small; an actor passivates between `passivate_after` and
/// `passivate_after` plus one tick after its last command.
async fn sweep_idle(inner: Weak<Inner>, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let now = inner.clock.fetch_add(1, Ordering::Relaxed) + 1;
        for registry in inner.registries() {
            registry.sweep(now);
        }
    }
}

/// Counters kept by the runtime, for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) spawned: AtomicU64,
    pub(crate) passivated: AtomicU64,
}

/// A point-in-time copy of a runtime's counters ([`Runtime::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// Actor tasks started since the runtime was built (including restarts after
    /// passivation).
    pub spawned: u64,
    /// Actors passivated since the runtime was built.
    pub passivated: u64,
    /// Actor tasks running now.
    pub live: usize,
}

/// The live actors of one type.
pub(crate) struct Registry<A: EventSourced> {
    pub(crate) actors: DashMap<Arc<str>, Arc<Cell<A>>>,
    pub(crate) config: ActorConfig,
    /// `passivate_after` in idle-sweep ticks.
    pub(crate) idle_ticks: Option<u64>,
    next_generation: AtomicU64,
}

impl Runtime {
    /// A builder over a store that keeps snapshots.
    pub fn builder(store: Arc<dyn SnapshotStore>) -> RuntimeBuilder {
        RuntimeBuilder {
            events: store.clone(),
            snapshots: Some(store),
            defaults: ActorConfig::default(),
            overrides: HashMap::new(),
            bus_capacity: 4_096,
        }
    }

    /// A builder over a store without snapshots: actors always replay their whole
    /// history on start, and the snapshot settings are ignored.
    pub fn builder_without_snapshots(store: Arc<dyn EventStore>) -> RuntimeBuilder {
        RuntimeBuilder {
            events: store,
            snapshots: None,
            defaults: ActorConfig::default(),
            overrides: HashMap::new(),
            bus_capacity: 4_096,
        }
    }

    /// A runtime with default settings over a store that keeps snapshots.
    pub fn new(store: Arc<dyn SnapshotStore>) -> Runtime {
        Runtime::builder(store).build()
    }

    /// The handle of actor `id` of type `A`, starting its task if it is not running.
    ///
    /// Handles are cheap to clone and stay valid across passivation: a command sent to a
    /// passivated actor starts it again. Any number of concurrent calls for one id start
    /// one task.
    pub fn actor<A: EventSourced>(&self, id: impl AsRef<str>) -> ActorRef<A> {
        let registry = self.registry::<A>();
        let actor_ref = ActorRef::new(self.clone(), registry, id.as_ref());
        actor_ref.ensure_started();
        actor_ref
    }

    /// Subscribes to events as they are persisted, filtered (see [`SubscriptionFilter`]).
    pub fn subscribe(&self, filter: SubscriptionFilter) -> Subscription {
        self.inner.bus.subscribe(filter)
    }

    /// The runtime's counters now.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            spawned: self.inner.stats.spawned.load(Ordering::Relaxed),
            passivated: self.inner.stats.passivated.load(Ordering::Relaxed),
            live: self.inner.live_count.load(Ordering::Relaxed),
        }
    }

    /// The settings actor type `A` runs with.
    pub fn config_of<A: EventSourced>(&self) -> ActorConfig {
        self.registry::<A>().config.clone()
    }

    /// Whether [`shutdown`](Runtime::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Shuts down gracefully: new commands get
    /// [`AskError::ShuttingDown`](crate::AskError::ShuttingDown), every mailbox is drained
    /// (commands already queued are executed and answered), and the call returns when
    /// every actor task has ended. Idempotent.
    pub async fn shutdown(&self) {
        let _abort = self.begin_shutdown();
        self.wait_for_actors().await;
    }

    /// Like [`shutdown`](Runtime::shutdown), but gives up after `deadline`: the actor
    /// tasks still running are aborted (their waiting callers get an error) and the
    /// error says how many there were.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimeout`] when the deadline passed before every actor ended.
    pub async fn shutdown_timeout(&self, deadline: Duration) -> Result<(), ShutdownTimeout> {
        let abort = self.begin_shutdown();
        if tokio::time::timeout(deadline, self.wait_for_actors())
            .await
            .is_ok()
        {
            return Ok(());
        }
        let remaining = self.inner.live_count.load(Ordering::Acquire);
        for handle in abort {
            handle.abort();
        }
        self.wait_for_actors().await;
        Err(ShutdownTimeout {
            deadline,
            remaining,
        })
    }

    fn begin_shutdown(&self) -> Vec<AbortHandle> {
        self.inner.begin_shutdown()
    }

    async fn wait_for_actors(&self) {
        let mut live_rx = self.inner.live_rx.lock().await;
        // `recv` returns `None` once every actor task has dropped its sender, which each
        // does last, after releasing everything else it held.
        while live_rx.recv().await.is_some() {}
        self.inner.shut_down.store(true, Ordering::Release);
    }

    /// The error for a command refused because shutdown has begun (or finished).
    pub(crate) fn shutting_down_error<E>(&self, actor_id: &str) -> crate::AskError<E> {
        crate::AskError::ShuttingDown {
            actor_id: actor_id.to_owned(),
            finished: self.inner.shut_down.load(Ordering::Acquire),
        }
    }

    /// A clone for the runtime's own tasks: it does not count as a program's handle, so
    /// it does not keep the runtime from draining when the program drops its handles.
    pub(crate) fn internal(&self) -> Runtime {
        Runtime {
            inner: Arc::clone(&self.inner),
            _handles: None,
        }
    }

    pub(crate) fn registry<A: EventSourced>(&self) -> Arc<Registry<A>> {
        let key = TypeId::of::<A>();
        if let Some(existing) = self.inner.registries.get(&key) {
            return downcast(existing.value());
        }
        let entry = self.inner.registries.entry(key).or_insert_with(|| {
            let mut config = self.inner.defaults.clone();
            if let Some(every) = A::SNAPSHOT_EVERY {
                config = config.snapshot_every(every);
            }
            if let Some(configure) = self.inner.overrides.get(&key) {
                config = configure(config);
            }
            let idle_ticks = match (config.passivate_after, self.inner.tick) {
                (Some(idle), Some(tick)) => {
                    Some(idle.as_nanos().div_ceil(tick.as_nanos()).max(1) as u64)
                }
                _ => None,
            };
            let registry: Arc<dyn ClearRegistry> = Arc::new(Registry::<A> {
                actors: DashMap::new(),
                idle_ticks,
                config,
                next_generation: AtomicU64::new(0),
            });
            registry
        });
        downcast(entry.value())
    }

    /// A clone of the liveness token a new actor task must hold, or `None` once
    /// shutdown has begun.
    pub(crate) fn live_token(&self) -> Option<mpsc::Sender<()>> {
        self.inner.live.lock().expect("live lock").clone()
    }
}

fn downcast<A: EventSourced>(erased: &Arc<dyn ClearRegistry>) -> Arc<Registry<A>> {
    match erased.clone().into_any().downcast::<Registry<A>>() {
        Ok(registry) => registry,
        Err(_) => unreachable!("the registry under a TypeId has that type"),
    }
}

/// The type-erased operations shutdown needs on each actor type's registry.
pub(crate) trait ClearRegistry: Send + Sync + 'static {
    /// Removes every actor (dropping the mailbox senders) and returns their abort handles.
    fn clear(&self) -> Vec<AbortHandle>;
    /// Commands queued in this type's mailboxes now.
    fn queued(&self) -> usize;
    /// Asks every actor idle since before `now - idle_ticks` to passivate.
    fn sweep(&self, now: u64);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<A: EventSourced> ClearRegistry for Registry<A> {
    fn clear(&self) -> Vec<AbortHandle> {
        let mut handles = Vec::new();
        self.actors.retain(|_, cell| {
            if let Some(handle) = cell.abort.get() {
                handles.push(handle.clone());
            }
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
                // Sent under the shard's read lock, like any command (see `mailbox`).
                // A full mailbox means it is not idle after all.
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

impl<A: EventSourced> Registry<A> {
    pub(crate) fn next_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }
}
