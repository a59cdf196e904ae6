//! The forwarding side: while some member has subscribers, this member sends what its
//! shard runtimes publish on their in-process buses to NATS.
//!
//! Each served shard's runtime gets a *pump*: a subscription to that runtime's bus
//! whose events go, with the number any lag lost, into one channel read by the member's
//! *publisher*, which numbers them and sends one NATS message per run of one actor's
//! events ([`BatchRef`]). One publisher per member keeps the numbering gap-free, so a
//! receiver can count what it missed; one connection keeps each actor's order.
//!
//! Forwarding runs for a lease ([`ClusterConfig::forward_lease`](crate::ClusterConfig)),
//! renewed by every announcement; when the lease ends the pumps are dropped and the
//! shard runtimes publish to nobody again (one atomic load per command).
//!
//! A shard handed over is [detached](Forwarder::detach) after its runtime has shut down:
//! its pump sends what is left, and the publisher has passed it all to the connection
//! before the member acknowledges the new owner, so an actor's last events here reach
//! NATS before the new owner's first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aether_runtime::{BusError, Published, Runtime, Subscription, SubscriptionFilter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::wire::{events_subject, BatchRef};

/// Most events taken from a runtime's bus in one go, and most events in one message.
const MAX_RUN: usize = 64;

/// What a pump passes to the publisher.
enum Out {
    Events(Vec<Arc<Published>>),
    /// The runtime's bus dropped this many events for the pump.
    Missed(u64),
    /// Answered once everything before it was passed to the connection.
    Barrier(oneshot::Sender<()>),
}

struct Pump {
    /// Asks the pump to send what is waiting and end; it answers when the publisher has.
    finish: oneshot::Sender<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    lease_until: Option<Instant>,
    /// The publisher's channel while forwarding.
    out: Option<mpsc::Sender<Out>>,
    pumps: HashMap<u32, Pump>,
}

/// This member's forwarding: see the [module docs](self).
pub(crate) struct Forwarder {
    client: async_nats::Client,
    namespace: String,
    drain_timeout: Duration,
    state: Mutex<State>,
}

impl Forwarder {
    pub(crate) fn new(
        client: async_nats::Client,
        namespace: &str,
        drain_timeout: Duration,
    ) -> Self {
        Forwarder {
            client,
            namespace: namespace.to_owned(),
            drain_timeout,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forwards until at least `until`; returns whether forwarding starts now (the
    /// caller then [attaches](Self::attach) the runtimes already running).
    pub(crate) fn extend(&self, until: Instant) -> bool {
        let mut state = self.state();
        state.lease_until = Some(state.lease_until.map_or(until, |at| at.max(until)));
        if state.out.is_some() {
            return false;
        }
        let (tx, rx) = mpsc::channel(1_024);
        state.out = Some(tx);
        tokio::spawn(publish(self.client.clone(), self.namespace.clone(), rx));
        true
    }

    /// Stops forwarding if the lease has run out by `now`.
    pub(crate) fn expire(&self, now: Instant) {
        let mut state = self.state();
        if state.lease_until.is_some_and(|at| at > now) {
            return;
        }
        state.lease_until = None;
        // The publisher ends once the pumps, holding the other senders, are gone.
        state.out = None;
        for (_, pump) in state.pumps.drain() {
            pump.task.abort();
        }
    }

    /// Forwards the events of `shard`'s `runtime`, if forwarding (once per shard: a
    /// shard's next runtime starts only after the previous one was
    /// [detached](Self::detach)).
    pub(crate) fn attach(&self, shard: u32, runtime: &Runtime) {
        let mut state = self.state();
        let Some(out) = state.out.clone() else {
            return;
        };
        if state.pumps.contains_key(&shard) {
            return;
        }
        // Subscribed here, not in the task: every event published from now on is seen.
        let events = runtime.subscribe(SubscriptionFilter::All);
        let (finish, finish_rx) = oneshot::channel();
        let task = tokio::spawn(pump(events, out, finish_rx));
        state.pumps.insert(shard, Pump { finish, task });
    }

    /// After `shard`'s runtime has shut down: sends what its pump still holds, and
    /// returns once the publisher has passed it to the connection (at most the drain
    /// timeout).
    pub(crate) async fn detach(&self, shard: u32) {
        let Some(pump) = self.state().pumps.remove(&shard) else {
            return;
        };
        let (done, done_rx) = oneshot::channel();
        if pump.finish.send(done).is_ok()
            && tokio::time::timeout(self.drain_timeout, done_rx)
                .await
                .is_err()
        {
            tracing::warn!(
                shard,
                "the bus did not forward a handed-over shard's last events in time"
            );
        }
        pump.task.abort();
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, pump) in state.pumps.drain() {
            pump.task.abort();
        }
    }
}

/// Takes `first` and what else waits on the bus (up to [`MAX_RUN`] events) and passes
/// them on; `false` once the publisher is gone.
async fn pass_on(
    first: Arc<Published>,
    events: &mut Subscription,
    out: &mpsc::Sender<Out>,
) -> bool {
    let mut run = vec![first];
    let mut missed = 0;
    while run.len() < MAX_RUN {
        match events.try_recv() {
            Ok(published) => run.push(published),
            Err(BusError::Lagged { missed: n }) => {
                missed = n;
                break;
            }
            Err(_) => break,
        }
    }
    if out.send(Out::Events(run)).await.is_err() {
        return false;
    }
    missed == 0 || out.send(Out::Missed(missed)).await.is_ok()
}

/// What [`forward`] left for the pump to do.
enum Next {
    /// Go on reading the bus.
    More,
    /// The bus has nothing more (empty, or closed).
    Drained,
    /// The publisher is gone: stop.
    Gone,
}

/// Passes one item of the runtime's bus on to the publisher: a run of events, or how
/// many the bus dropped.
async fn forward(
    received: Result<Arc<Published>, BusError>,
    events: &mut Subscription,
    out: &mpsc::Sender<Out>,
) -> Next {
    let sent = match received {
        Ok(published) => pass_on(published, events, out).await,
        Err(BusError::Lagged { missed }) => out.send(Out::Missed(missed)).await.is_ok(),
        Err(_) => return Next::Drained,
    };
    if sent {
        Next::More
    } else {
        Next::Gone
    }
}

/// One shard runtime's pump.
async fn pump(
    mut events: Subscription,
    out: mpsc::Sender<Out>,
    mut finish: oneshot::Receiver<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            received = events.recv() => {
                if !matches!(forward(received, &mut events, &out).await, Next::More) {
                    return;
                }
            }
            asked = &mut finish => {
                // The runtime has shut down: all it published is waiting here.
                loop {
                    let received = events.try_recv();
                    match forward(received, &mut events, &out).await {
                        Next::More => {}
                        Next::Drained => break,
                        Next::Gone => return,
                    }
                }
                let (passed, passed_rx) = oneshot::channel();
                if out.send(Out::Barrier(passed)).await.is_ok() {
                    let _ = passed_rx.await;
                }
                if let Ok(done) = asked {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

/// The member's publisher: numbers the events under a fresh source id and sends one
/// message per run of one actor's events.
async fn publish(client: async_nats::Client, namespace: String, mut out: mpsc::Receiver<Out>) {
    let source = uuid::Uuid::now_v7().simple().to_string();
    let mut next: u64 = 0;
    while let Some(item) = out.recv().await {
        let events = match item {
            Out::Events(events) => events,
            Out::Missed(n) => {
                next += n;
                continue;
            }
            Out::Barrier(passed) => {
                let _ = passed.send(());
                continue;
            }
        };
        for run in events.chunk_by(|a, b| a.actor_type == b.actor_type && a.id == b.id) {
            let batch = BatchRef {
                source: &source,
                from: next,
                actor_type: run[0].actor_type,
                id: &run[0].id,
                events: run.iter().map(|p| &p.event).collect(),
            };
            // Counted even if the send fails: receivers then see the gap.
            next += run.len() as u64;
            let payload = match serde_json::to_vec(&batch) {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot encode events for the bus");
                    continue;
                }
            };
            let subject = events_subject(&namespace, run[0].actor_type);
            if let Err(err) = client.publish(subject, payload.into()).await {
                tracing::warn!(error = %err, "cannot forward events to the bus");
            }
        }
    }
}
