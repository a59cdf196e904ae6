//! Test hook: a pause between learning where a subject ends (the remembered tail, or a
//! read of its head) and publishing, so a test can land another writer's append in that
//! gap and check that the server's expected-last-subject-sequence check turns it into a
//! version conflict.
//!
//! When no pause is armed the only cost on the write path is one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::NatsStore;

/// The armed pause of one store handle (shared by its clones).
#[derive(Default)]
pub(crate) struct PauseHook {
    armed: AtomicBool,
    slot: Mutex<Option<Armed>>,
}

struct Armed {
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl PauseHook {
    /// Pauses here if a pause is armed: the first save to come by takes it, says it got
    /// here, and waits until the test releases it (or drops the guard).
    pub(crate) async fn pause_if_armed(&self) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let armed = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            self.armed.store(false, Ordering::Relaxed);
            slot.take()
        };
        if let Some(Armed { reached, release }) = armed {
            let _ = reached.send(());
            let _ = release.await;
        }
    }
}

impl NatsStore {
    /// Test hook: the next save through this handle (or a clone) stops after it knows
    /// where the subject ends (remembered or read) and before it publishes, until the returned guard is released
    /// or dropped. Meant for tests of the expected-sequence check; never needed otherwise.
    #[doc(hidden)]
    pub fn pause_next_publish(&self) -> PublishPause {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let hook = &self.inner.pause;
        *hook.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Armed {
            reached: reached_tx,
            release: release_rx,
        });
        hook.armed.store(true, Ordering::Relaxed);
        PublishPause {
            reached: Some(reached_rx),
            _release: release_tx,
        }
    }
}

/// Guard returned by [`NatsStore::pause_next_publish`]; dropping it lets the paused save
/// publish.
#[doc(hidden)]
#[derive(Debug)]
pub struct PublishPause {
    reached: Option<oneshot::Receiver<()>>,
    _release: oneshot::Sender<()>,
}

impl PublishPause {
    /// Waits until a save has stopped before publishing. Returns
    /// `false` if the hook was re-armed (this pause can then never be reached).
    pub async fn reached(&mut self) -> bool {
        match self.reached.take() {
            Some(reached) => reached.await.is_ok(),
            None => true,
        }
    }
}
