//! [`Runtime`]: the handle a program holds: actor handles, the event bus, shutdown.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::bus::{Subscription, SubscriptionFilter};
use crate::config::ActorConfig;
use crate::context::Context;
use crate::error::ShutdownTimeout;
use crate::registry::{Registries, Registry};
use crate::EventSourced;

/// Per-type settings given to [`RuntimeBuilder::configure`](crate::RuntimeBuilder::configure).
pub(crate) type Overrides = HashMap<TypeId, Box<dyn Fn(ActorConfig) -> ActorConfig + Send + Sync>>;

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
/// (`Runtime` or [`ActorRef`](crate::ActorRef)) is dropped without it begins the same
/// drain in the background and logs at `warn` how many commands were queued; but when
/// the tokio runtime stops first (the end of `#[tokio::main]`), what is still queued is
/// lost, and a second `warn` says how many commands were dropped undelivered.
///
/// # Panics
///
/// [`Runtime::new`], [`RuntimeBuilder::build`](crate::RuntimeBuilder::build) and
/// [`Runtime::actor`] must run inside a tokio runtime (actors are tokio tasks); outside
/// one they panic, as `tokio::spawn` does.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("snapshots", &self.inner.context.snapshots.is_some())
            .field("live_actors", &self.stats().live)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

/// Held only by the handles a program holds (`Runtime` clones and `ActorRef`s), never
/// by the actor tasks: when the last one goes, nobody can send, and the runtime drains.
pub(crate) struct Inner {
    pub(crate) context: Arc<Context>,
    pub(crate) registries: Arc<Registries>,
    pub(crate) defaults: ActorConfig,
    pub(crate) overrides: Overrides,
    /// Closes when every liveness token (one per task) is gone.
    pub(crate) live_rx: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// The idle sweep's period; `None` when no actor type passivates.
    pub(crate) tick: Option<Duration>,
}

impl Inner {
    /// Stops new work and drops the mailbox senders, so each actor ends once its mailbox
    /// is drained. Returns the tasks' abort handles.
    fn begin_shutdown(&self) -> Vec<AbortHandle> {
        // From here no actor can be spawned (spawning needs a liveness token).
        self.context.begin_shutdown();
        self.registries.clear()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.context.is_shutting_down() {
            return;
        }
        let queued = self.registries.queued();
        // The actors drain and end by themselves; nothing to abort.
        drop(self.begin_shutdown());
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

impl Runtime {
    /// Subscribes to events as they are persisted, filtered (see [`SubscriptionFilter`]).
    pub fn subscribe(&self, filter: SubscriptionFilter) -> Subscription {
        self.inner.context.bus.subscribe(filter)
    }

    /// The runtime's counters now.
    pub fn stats(&self) -> RuntimeStats {
        let counters = &self.inner.context.counters;
        RuntimeStats {
            spawned: counters.spawned.load(Ordering::Relaxed),
            passivated: counters.passivated.load(Ordering::Relaxed),
            live: counters.live.load(Ordering::Relaxed),
        }
    }

    /// The settings actor type `A` runs with.
    pub fn config_of<A: EventSourced>(&self) -> ActorConfig {
        self.registry::<A>().config.clone()
    }

    /// Whether [`shutdown`](Runtime::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.context.is_shutting_down()
    }

    /// Shuts down gracefully: new commands get
    /// [`AskError::ShuttingDown`](crate::AskError::ShuttingDown), every mailbox is drained
    /// (commands already queued, told ones included, are executed and answered), and the
    /// call returns when every actor task and snapshot write has ended and released the
    /// store. Idempotent.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the shutdown: it has begun at the first poll,
    /// and the actors go on draining in the background.
    pub async fn shutdown(&self) {
        let _abort = self.inner.begin_shutdown();
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
        let abort = self.inner.begin_shutdown();
        if tokio::time::timeout(deadline, self.wait_for_actors())
            .await
            .is_ok()
        {
            return Ok(());
        }
        let remaining = self.stats().live;
        for handle in abort {
            handle.abort();
        }
        self.wait_for_actors().await;
        Err(ShutdownTimeout {
            deadline,
            remaining,
        })
    }

    async fn wait_for_actors(&self) {
        let mut live_rx = self.inner.live_rx.lock().await;
        // `recv` returns `None` once every task has dropped its token, which each does
        // last, after releasing everything else it held.
        while live_rx.recv().await.is_some() {}
        self.inner.context.finish_shutdown();
    }

    /// Actor type `A`'s registry, made on first use with the type's settings.
    pub(crate) fn registry<A: EventSourced>(&self) -> Arc<Registry<A>> {
        let inner = &self.inner;
        inner.registries.of::<A>(|| {
            let mut config = inner.defaults.clone();
            if let Some(every) = A::SNAPSHOT_EVERY {
                config = config.snapshot_every(every);
            }
            if let Some(configure) = inner.overrides.get(&TypeId::of::<A>()) {
                config = configure(config);
            }
            Registry::new(config, inner.tick, crate::task::spawn::<A>)
        })
    }
}
