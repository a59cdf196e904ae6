//! The owner's side: which shards this member serves now, one runtime per served shard,
//! and handing a shard over (stop taking its commands, drain what is queued, stop its
//! actors).
//!
//! Each served shard has a [`Runtime`] of its own. Handing the shard over is that
//! runtime's [`shutdown`](Runtime::shutdown): it refuses new commands (answered
//! [`Response::Moved`], so the router asks the new owner), executes and answers every
//! command already queued, and returns once every actor of the shard has ended. Only then
//! does this member acknowledge the new owner (see [`membership`](crate::membership)).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aether_runtime::{AskError, AskOptions, Runtime};

use crate::actor_type::{ActorTypes, ClusterActor, Outcome};
use crate::bus::Forwarder;
use crate::error::ClusterAskError;
use crate::placement::{owner_of, shard_of};
use crate::wire::{Request, Response};

/// Builds the runtime of one shard.
pub(crate) type MakeRuntime = Arc<dyn Fn() -> Runtime + Send + Sync>;

/// A local ask's outcome.
pub(crate) enum Local<A: ClusterActor> {
    /// Answered here.
    Done(Result<A::Reply, ClusterAskError<A::Error>>),
    /// This member does not serve the shard now; the command was not applied.
    Moved,
}

pub(crate) struct Host {
    node: Arc<str>,
    shard_count: u32,
    types: ActorTypes,
    make_runtime: MakeRuntime,
    drain_timeout: Duration,
    /// Sends the shard runtimes' events to the cluster's bus while someone subscribes.
    forward: Forwarder,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The placed members, and the joiners this member hands shards to: a shard is
    /// served here when this member wins it among them.
    effective: Vec<String>,
    /// No heartbeat got through for too long: serve nothing.
    fenced: bool,
    /// Leaving (or left): serve nothing.
    closed: bool,
    runtimes: HashMap<u32, Runtime>,
    /// Shards whose previous runtime is still draining: not served again (not even if
    /// they come back here) until it has ended, so one actor never runs twice here.
    draining: HashMap<u32, usize>,
}

/// Runtimes handed over, with their shards, for [`Host::drain`].
pub(crate) struct Released(Vec<(u32, Runtime)>);

impl Released {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Host {
    pub(crate) fn new(
        node: Arc<str>,
        shard_count: u32,
        types: ActorTypes,
        make_runtime: MakeRuntime,
        drain_timeout: Duration,
        forward: Forwarder,
    ) -> Self {
        Host {
            node,
            shard_count,
            types,
            make_runtime,
            drain_timeout,
            forward,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; go on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn shard_count(&self) -> u32 {
        self.shard_count
    }

    /// The runtime of `shard` if this member serves it now (started on first use).
    fn runtime_for(&self, shard: u32) -> Option<Runtime> {
        let mut state = self.state();
        if state.fenced || state.closed || state.draining.contains_key(&shard) {
            return None;
        }
        if owner_of(shard, &state.effective) != Some(&*self.node) {
            return None;
        }
        let runtime = match state.runtimes.entry(shard) {
            Entry::Occupied(served) => served.get().clone(),
            Entry::Vacant(new) => {
                let runtime = new.insert((self.make_runtime)()).clone();
                self.forward.attach(shard, &runtime);
                runtime
            }
        };
        Some(runtime)
    }

    pub(crate) fn forwarder(&self) -> &Forwarder {
        &self.forward
    }

    /// Forwards the shard runtimes' events to the bus until at least `until`.
    pub(crate) fn forward_until(&self, until: std::time::Instant) {
        if self.forward.extend(until) {
            // Under the lock, as `runtime_for` attaches: each running shard once.
            let state = self.state();
            for (shard, runtime) in &state.runtimes {
                self.forward.attach(*shard, runtime);
            }
        }
    }

    /// New placement: `placed` members, plus the joiners this member hands shards to.
    /// Returns the runtimes of the shards no longer served here, to [`drain`](Self::drain).
    pub(crate) fn set_view(
        &self,
        placed: &[String],
        handing_to: &BTreeSet<String>,
        fenced: bool,
    ) -> Released {
        let mut effective: Vec<String> = placed.to_vec();
        effective.extend(handing_to.iter().cloned());
        effective.sort();
        effective.dedup();
        let mut state = self.state();
        state.effective = effective;
        state.fenced = fenced;
        let keep_none = state.fenced || state.closed;
        let node = Arc::clone(&self.node);
        let State {
            runtimes,
            effective,
            draining,
            ..
        } = &mut *state;
        let released: Vec<u32> = runtimes
            .keys()
            .copied()
            .filter(|shard| keep_none || owner_of(*shard, effective) != Some(&*node))
            .collect();
        Released(
            released
                .into_iter()
                .filter_map(|shard| {
                    let runtime = runtimes.remove(&shard)?;
                    *draining.entry(shard).or_default() += 1;
                    Some((shard, runtime))
                })
                .collect(),
        )
    }

    /// Stops serving every shard (leaving); returns their runtimes to drain.
    pub(crate) fn close(&self) -> Released {
        let mut state = self.state();
        state.closed = true;
        let State {
            runtimes, draining, ..
        } = &mut *state;
        Released(
            runtimes
                .drain()
                .map(|(shard, runtime)| {
                    *draining.entry(shard).or_default() += 1;
                    (shard, runtime)
                })
                .collect(),
        )
    }

    /// Shuts the runtimes down: their queued commands are executed and answered, then
    /// their actors end (within the drain timeout, else they are aborted).
    pub(crate) async fn drain(&self, released: Released) {
        let timeout = self.drain_timeout;
        let node = Arc::clone(&self.node);
        futures::future::join_all(released.0.into_iter().map(|(shard, runtime)| {
            let node = Arc::clone(&node);
            async move {
                if let Err(err) = runtime.shutdown_timeout(timeout).await {
                    tracing::warn!(node = %node, shard, error = %err, "a handed-over shard did not drain in time");
                }
                // Its last events are on their way before the shard may start elsewhere.
                self.forward.detach(shard).await;
                let mut state = self.state();
                if let Some(count) = state.draining.get_mut(&shard) {
                    *count -= 1;
                    if *count == 0 {
                        state.draining.remove(&shard);
                    }
                }
            }
        }))
        .await;
    }

    /// Shards served now (for stats and tests).
    pub(crate) fn served_shards(&self) -> usize {
        self.state().runtimes.len()
    }

    /// Serves a routed request.
    pub(crate) async fn serve(&self, request: Request) -> Response {
        let Some(serve) = self.types.get(&request.actor_type).cloned() else {
            return Response::UnknownActorType;
        };
        let shard = shard_of(&request.actor_type, &request.id, self.shard_count);
        let Some(runtime) = self.runtime_for(shard) else {
            return Response::Moved;
        };
        match serve
            .serve(runtime, request.id, request.command_id, request.command)
            .await
        {
            Outcome::Answer(response) => response,
            Outcome::Moved => Response::Moved,
        }
    }

    /// An ask for an actor whose shard this member owns in the router's view: no
    /// serialization.
    pub(crate) async fn ask_local<A: ClusterActor>(
        &self,
        shard: u32,
        id: &str,
        command: A::Command,
        command_id: &str,
    ) -> Local<A> {
        let Some(runtime) = self.runtime_for(shard) else {
            return Local::Moved;
        };
        let result = runtime
            .actor::<A>(id)
            .ask_with(command, AskOptions::new().command_id(command_id))
            .await;
        match result {
            Ok(reply) => Local::Done(Ok(reply)),
            // The shard was handed over between the lookup and the send: not applied.
            Err(AskError::ShuttingDown { .. }) => Local::Moved,
            Err(err) => Local::Done(Err(ClusterAskError::from_ask(err, &self.node))),
        }
    }
}
