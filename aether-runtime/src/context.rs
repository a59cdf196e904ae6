//! [`Context`]: what every actor task of a runtime shares, and nothing else.
//!
//! The runtime builds one and hands an `Arc` of it to each task it spawns, so a task
//! reaches the stores, the bus and the counters through what it was given, never
//! through the [`Runtime`](crate::Runtime) handle.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aether_core::{EventStore, SnapshotStore};
use tokio::sync::mpsc;

use crate::bus::EventBus;
use crate::error::AskError;

/// The stores, the bus, the clock, the counters and the liveness tokens.
pub(crate) struct Context {
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) snapshots: Option<Arc<dyn SnapshotStore>>,
    pub(crate) bus: EventBus,
    /// Ticks of the idle sweep so far; actors record it when they handle a command.
    pub(crate) clock: AtomicU64,
    pub(crate) counters: Counters,
    /// Every running task (and snapshot write) holds a clone; shutdown drops this one
    /// and waits until the channel closes.
    live: Mutex<Option<mpsc::Sender<()>>>,
    shutting_down: AtomicBool,
    /// Set when shutdown returned (every task ended).
    shut_down: AtomicBool,
}

/// Counters kept for [`RuntimeStats`](crate::RuntimeStats) and the drop warnings.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spawned: AtomicU64,
    pub(crate) passivated: AtomicU64,
    /// Actor tasks running now.
    pub(crate) live: AtomicUsize,
    /// Commands an actor task was dropped with, never handled (the task was aborted, or
    /// the tokio runtime stopped under it).
    pub(crate) dropped: AtomicU64,
    /// Commands an actor task was dropped in the middle of: their events may or may not
    /// be stored.
    pub(crate) interrupted: AtomicU64,
}

impl Context {
    pub(crate) fn new(
        events: Arc<dyn EventStore>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        bus: EventBus,
        live: mpsc::Sender<()>,
    ) -> Self {
        Context {
            events,
            snapshots,
            bus,
            clock: AtomicU64::new(0),
            counters: Counters::default(),
            live: Mutex::new(Some(live)),
            shutting_down: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
        }
    }

    /// A liveness token for a new task, or `None` once shutdown has begun.
    pub(crate) fn live_token(&self) -> Option<mpsc::Sender<()>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Refuses new tasks from now on and lets go of the runtime's own liveness token.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        drop(self.live.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    pub(crate) fn finish_shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
    }

    /// The error for a command refused because shutdown has begun (or finished).
    pub(crate) fn shutting_down_error<E>(&self, actor_id: &str) -> AskError<E> {
        AskError::ShuttingDown {
            actor_id: actor_id.to_owned(),
            finished: self.shut_down.load(Ordering::Acquire),
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let dropped = *self.counters.dropped.get_mut();
        let interrupted = *self.counters.interrupted.get_mut();
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
