//! Panics in `decide` or `apply`: caught, counted, and the state rebuilt from the store;
//! too many within the window stop the actor.

use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, warn};

use super::lifecycle::{Actor, Reload};
use crate::error::AskError;
use crate::EventSourced;

impl<A: EventSourced> Actor<A> {
    /// Counts the panic, rebuilds the state from the store, and gives the caller's error.
    pub(super) async fn on_panic(
        &mut self,
        panic: Box<dyn std::any::Any + Send>,
        during: &str,
    ) -> AskError<A::Error> {
        let message = panic_message(&panic);
        warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version = self.version, %message, during, "actor panicked");
        let registry = Arc::clone(&self.registry);
        let config = &registry.config;
        let now = Instant::now();
        let rare = self.rare();
        rare.panics.push_back(now);
        while let Some(first) = rare.panics.front() {
            if now.duration_since(*first) > config.panic_window {
                rare.panics.pop_front();
            } else {
                break;
            }
        }
        if rare.panics.len() > config.max_panics as usize {
            rare.stopped = Some(format!(
                "panicked {} times within {:?}; last panic in {during}: {message}",
                rare.panics.len(),
                config.panic_window
            ));
        } else {
            // Never go on from half-mutated memory: rebuild from the store now, or
            // before the next command if the store is unreachable.
            self.reload = Reload::Full;
            if let Err(err) = self.reload_if_needed().await {
                debug!(actor_id = %self.id(), error = %err, "rebuild after panic failed; retrying before the next command");
            }
        }
        AskError::Panicked {
            actor_id: self.stored_id.to_string(),
            version: self.version,
            message,
        }
    }
}

pub(super) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
