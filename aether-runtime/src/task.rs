//! The actor task: rehydrate, then take commands one at a time until passivated,
//! stopped or shut down.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use aether_core::{ActorSnapshot, Event, StoreError};
use tokio::sync::mpsc;

use crate::channel;
use tracing::{debug, warn, Instrument};

use crate::actor::DomainEvent;
use crate::error::{AskError, StartError};
use crate::idempotency::{oldest_kept, AppliedCommand, Limits, RecentCommands};
use crate::mailbox::{Cell, Envelope, Message, Shared, Terminal};
use crate::runtime::Registry;
use crate::{EventSourced, Runtime};

/// Builds the cell and the closure that spawns the task. The caller inserts the cell in
/// the registry first, then runs the closure.
pub(crate) fn prepare<A: EventSourced>(
    runtime: Runtime,
    registry: Arc<Registry<A>>,
    stored_id: Arc<str>,
    live: mpsc::Sender<()>,
) -> (Arc<Cell<A>>, impl FnOnce()) {
    let (tx, rx) = channel::channel(registry.config.mailbox_capacity);
    let shared = Arc::new(Shared::default());
    shared.last_active.store(
        runtime.inner.clock.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    let generation = registry.next_generation();
    let cell = Arc::new(Cell {
        tx,
        shared: Arc::clone(&shared),
        generation,
        abort: OnceLock::new(),
    });
    let start = {
        let cell = Arc::clone(&cell);
        move || {
            runtime.inner.stats.spawned.fetch_add(1, Ordering::Relaxed);
            runtime.inner.live_count.fetch_add(1, Ordering::AcqRel);
            let actor = Actor {
                runtime,
                registry,
                shared,
                stored_id,
                generation,
                state: A::default(),
                version: 0,
                reload: Reload::None,
                in_flight: false,
                last_snapshot_version: 0,
                ids_unknown_through: 0,
                rare: None,
            };
            let handle = tokio::spawn(actor.run(rx, live));
            let _ = cell.abort.set(handle.abort_handle());
        }
    };
    (cell, start)
}

/// What the actor must do before its next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reload {
    /// State and version match the store as far as the actor knows.
    None,
    /// State may differ from the store (events applied before an append that failed, or
    /// a panic in `apply`): rebuild from the snapshot and the events after it.
    Full,
}

struct Actor<A: EventSourced> {
    runtime: Runtime,
    registry: Arc<Registry<A>>,
    shared: Arc<Shared>,
    /// `"{ACTOR_TYPE}|{id}"`, shared with the registry's key and the handles.
    stored_id: Arc<str>,
    generation: u64,
    state: A,
    version: i64,
    reload: Reload,
    /// A command is being handled (for counting what an aborted task interrupted).
    in_flight: bool,
    last_snapshot_version: i64,
    /// The command ids of events up to this version (those folded into the snapshot the
    /// actor started from) are not loaded yet: they are read on the first command that
    /// carries a command id, so commands without one never pay for it. 0: all known.
    ids_unknown_through: i64,
    /// State most actors never need, allocated on first use: an idle actor's task stays
    /// small.
    rare: Option<Box<Rare<A::Reply>>>,
}

#[derive(Debug)]
struct Rare<R> {
    recent: RecentCommands<R>,
    snapshot_in_flight: Arc<AtomicBool>,
    panics: VecDeque<Instant>,
    /// Set when the actor panicked too often: it answers the rest of its mailbox with
    /// this reason and ends.
    stopped: Option<String>,
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

type Mailbox<A> = channel::Receiver<Message<A>>;

impl<A: EventSourced> Actor<A> {
    /// The actor's id as given to `Runtime::actor`.
    fn id(&self) -> &str {
        crate::runtime::plain_id::<A>(&self.stored_id)
    }

    /// The task's body. Not an `async fn`: an async fn stores its arguments twice in
    /// its future (rust-lang/rust#62958), and this future is what every idle actor costs.
    fn run(
        self,
        rx: Mailbox<A>,
        live: mpsc::Sender<()>,
    ) -> impl std::future::Future<Output = ()> + Send {
        // Counts the task out, and what it leaves undelivered, even when it is aborted.
        let mut task = Task {
            actor: self,
            rx,
            _live: live,
        };
        async move {
            let Task { actor, rx, .. } = &mut task;
            // Boxed: the rehydration's locals need not stay in every idle actor's task.
            // The start's result is consumed before `serve`, so it takes no room in the
            // idle task.
            let started = match Box::pin(actor.start()).await {
                Ok(()) => true,
                Err(err) => {
                    actor.fail_start(err, rx);
                    false
                }
            };
            if started {
                actor.serve(rx).await;
            }
            // Now, not whenever the future is dropped: the token goes last, so
            // `shutdown` returns only after the task has released its handles.
            drop(task);
        }
    }

    async fn start(&mut self) -> Result<(), StartError> {
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

    async fn serve(&mut self, rx: &mut Mailbox<A>) {
        let passivates = self.registry.idle_ticks.is_some();
        // `None`: the sender is gone, which only happens at shutdown.
        while let Some(message) = rx.recv().await {
            match message {
                Message::Command(envelope) => {
                    self.in_flight = true;
                    Box::pin(self.handle(*envelope)).await;
                    self.in_flight = false;
                    if passivates {
                        let now = self.runtime.inner.clock.load(Ordering::Relaxed);
                        self.shared.last_active.store(now, Ordering::Relaxed);
                    }
                    if let Some(reason) = self.rare.as_ref().and_then(|r| r.stopped.clone()) {
                        self.stop(reason, rx);
                        return;
                    }
                }
                Message::Applied(inquiry) => {
                    let answer = Box::pin(self.applied(&inquiry.command_id))
                        .await
                        .map(|found| found.map(|(versions, _)| versions));
                    let _ = inquiry.reply.send(answer);
                }
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

    /// Whether no command was handled for the configured idle time (in sweep ticks).
    fn is_idle(&self) -> bool {
        let Some(idle_ticks) = self.registry.idle_ticks else {
            return false;
        };
        let now = self.runtime.inner.clock.load(Ordering::Relaxed);
        now.saturating_sub(self.shared.last_active.load(Ordering::Relaxed)) >= idle_ticks
    }

    /// Leaves the registry if nobody is sending and nothing is queued.
    fn try_passivate(&mut self, rx: &Mailbox<A>) -> bool {
        let removed = self
            .registry
            .actors
            .remove_if(&self.stored_id, |_, cell| {
                cell.generation == self.generation
                    && cell.shared.pending.load(Ordering::Acquire) == 0
                    && rx.is_empty()
            })
            .is_some();
        if removed {
            debug!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), version = self.version, "passivated");
            self.runtime
                .inner
                .stats
                .passivated
                .fetch_add(1, Ordering::Relaxed);
            crate::obs::passivation(A::ACTOR_TYPE);
        }
        removed
    }

    fn fail_start(&mut self, err: StartError, rx: &mut Mailbox<A>) {
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

    fn stop(&mut self, reason: String, rx: &mut Mailbox<A>) {
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

    async fn handle(&mut self, envelope: Envelope<A>) {
        let Envelope {
            command,
            command_id,
            reply,
        } = envelope;
        let span = tracing::debug_span!(
            "aether.command",
            actor_type = A::ACTOR_TYPE,
            actor_id = %self.id(),
            from_version = self.version,
            to_version = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = self
            .execute(command, command_id.as_deref())
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => outcome_name(err),
        };
        span.record("to_version", self.version);
        span.record("outcome", outcome);
        crate::obs::command(A::ACTOR_TYPE, outcome);
        match reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(err) = result {
                    warn!(actor_type = A::ACTOR_TYPE, actor_id = %self.id(), error = %err, "told command failed");
                }
            }
        }
    }

    async fn execute(
        &mut self,
        command: A::Command,
        command_id: Option<&str>,
    ) -> Result<A::Reply, AskError<A::Error>> {
        // Owned (not borrowed) across awaits, so commands need only be `Send`.
        self.reload_if_needed().await?;
        let retries = self.registry.config.conflict_retries;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if let Some(command_id) = command_id {
                if let Some(first) = Box::pin(self.applied(command_id)).await? {
                    // Applied before: the first outcome, never a second application.
                    return match first {
                        (_, Some(reply)) => Ok(reply),
                        (versions, None) => Err(AskError::Duplicate {
                            actor_id: self.stored_id.to_string(),
                            command_id: command_id.to_owned(),
                            version: versions.last_version,
                            first_version: versions.first_version,
                        }),
                    };
                }
            }
            let decision = match catch_unwind(AssertUnwindSafe(|| self.state.decide(&command))) {
                Ok(Ok(decision)) => decision,
                Ok(Err(error)) => {
                    return Err(AskError::Rejected {
                        actor_id: self.stored_id.to_string(),
                        version: self.version,
                        error,
                    })
                }
                Err(panic) => return Err(Box::pin(self.on_panic(panic, "decide")).await),
            };
            if decision.events.is_empty() {
                return Ok(decision.reply);
            }
            let records = self.record(&decision.events, command_id)?;
            let count = records.len();
            let last = records.last().map_or(self.version, |e| e.version);
            // Apply before the append: an `apply` that panics on a new event must never
            // leave that event stored, or every later start would replay the panic. Until
            // the store accepts the batch nothing can observe the state (one command at a
            // time), and on any store error the state is rebuilt from the store.
            for event in &decision.events {
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.state.apply(event))) {
                    // Nothing was stored; `on_panic` rebuilds the half-mutated state.
                    return Err(Box::pin(self.on_panic(panic, "apply")).await);
                }
            }
            // The bus needs the records after the append; otherwise the store may keep
            // them without a copy.
            let store = &self.runtime.inner.events;
            let (persisted, published) = if self.runtime.inner.bus.has_subscribers() {
                (store.save_events(&records).await, Some(records))
            } else {
                (store.append_events(records).await, None)
            };
            match persisted {
                Ok(()) => {
                    crate::obs::events_persisted(A::ACTOR_TYPE, count);
                    let first = self.version.saturating_add(1);
                    self.version = last;
                    if let Some(command_id) = command_id {
                        let limits = self.idempotency_limits();
                        if limits.window > 0 {
                            let reply = (limits.replies > 0).then(|| decision.reply.clone());
                            self.rare()
                                .recent
                                .record(command_id, first, last, reply, limits);
                        }
                    }
                    self.maybe_snapshot();
                    if let Some(records) = published {
                        self.runtime
                            .inner
                            .bus
                            .publish(A::ACTOR_TYPE, self.id(), records);
                    }
                    return Ok(decision.reply);
                }
                Err(StoreError::VersionConflict(conflict)) => {
                    crate::obs::conflict(A::ACTOR_TYPE);
                    debug!(actor_id = %self.id(), %conflict, attempts, "version conflict; rebuilding from the store");
                    // The refused events were applied: rebuild from the store, which
                    // also brings in the other writer's events.
                    self.reload = Reload::Full;
                    if attempts > retries {
                        return Err(AskError::Conflict {
                            actor_id: self.stored_id.to_string(),
                            attempts,
                            conflict,
                        });
                    }
                    self.reload_if_needed().await?;
                }
                Err(source) => {
                    // The events were applied, and the append may have landed with its
                    // acknowledgement lost: rebuild from the store before the next command.
                    self.reload = Reload::Full;
                    return Err(AskError::Store {
                        actor_id: self.stored_id.to_string(),
                        version: self.version,
                        source,
                    });
                }
            }
        }
    }

    /// Turns domain events into stored records: versions `v+1..`, fresh ids.
    fn record(
        &self,
        events: &[A::Event],
        command_id: Option<&str>,
    ) -> Result<Vec<Event>, AskError<A::Error>> {
        let timestamp = chrono::Utc::now();
        // One clock read for the ids and the timestamp; `fast-rng` keeps the random part
        // off the getrandom syscall.
        let uuid_clock = uuid::Timestamp::from_unix(
            uuid::NoContext,
            timestamp.timestamp().max(0) as u64,
            timestamp.timestamp_subsec_nanos(),
        );
        let mut version = self.version;
        let mut records = Vec::with_capacity(events.len());
        for event in events {
            version = version.checked_add(1).ok_or_else(|| AskError::Store {
                actor_id: self.stored_id.to_string(),
                version: self.version,
                source: StoreError::invalid_input(
                    self.stored_id.as_ref(),
                    self.version,
                    "version counter overflow",
                ),
            })?;
            let data = event.to_data().map_err(|err| AskError::Encode {
                actor_id: self.stored_id.to_string(),
                version,
                event_type: event.event_type().to_owned(),
                reason: err.to_string(),
            })?;
            records.push(Event {
                id: uuid::Uuid::new_v7(uuid_clock).to_string(),
                event_type: event.event_type().to_owned(),
                actor_id: self.stored_id.to_string(),
                command_id: command_id.map(str::to_owned),
                version,
                data,
                timestamp,
            });
        }
        Ok(records)
    }

    /// Counts the panic, rebuilds the state from the store, and gives the caller's error.
    async fn on_panic(
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

    async fn reload_if_needed(&mut self) -> Result<(), AskError<A::Error>> {
        let result = match self.reload {
            Reload::None => return Ok(()),
            // Boxed, like every rare path: the command future stays small.
            Reload::Full => Box::pin(self.rehydrate()).await,
        };
        match result {
            Ok(()) => {
                self.reload = Reload::None;
                Ok(())
            }
            Err(StartError::Store { source, .. }) => Err(AskError::Store {
                actor_id: self.stored_id.to_string(),
                version: self.version,
                source,
            }),
            Err(err) => Err(AskError::StartFailed(Arc::new(err))),
        }
    }

    /// Loads the latest snapshot and the events after it.
    async fn rehydrate(&mut self) -> Result<(), StartError> {
        let mut state = A::default();
        let mut version = 0;
        if let Some(snapshots) = &self.runtime.inner.snapshots {
            let snapshot = snapshots
                .get_latest_snapshot(&self.stored_id)
                .await
                .map_err(|err| self.store_failed(0, err))?;
            if let Some(ActorSnapshot {
                version: at,
                state: stored,
                ..
            }) = snapshot
            {
                state = serde_json::from_value(stored).map_err(|err| StartError::Snapshot {
                    actor_id: self.stored_id.to_string(),
                    version: at,
                    reason: err.to_string(),
                })?;
                version = at;
            }
        }
        self.state = state;
        self.version = version;
        self.last_snapshot_version = version;
        if let Some(rare) = &mut self.rare {
            rare.recent.clear();
        }
        // The command ids folded into the snapshot are loaded lazily (see
        // `ids_unknown_through`); those of the tail are recorded as it is applied.
        self.ids_unknown_through = if self.registry.config.idempotency_window > 0 {
            version
        } else {
            0
        };
        self.apply_stored(version.saturating_add(1)).await
    }

    /// Reads the command ids of the idempotency window that lie in the snapshot the
    /// actor started from.
    async fn load_older_command_ids(&mut self) -> Result<(), AskError<A::Error>> {
        let through = self.ids_unknown_through;
        let window = self.registry.config.idempotency_window;
        let from = oldest_kept(window, self.version).max(1);
        if from <= through {
            let events = self
                .runtime
                .inner
                .events
                .get_events(&self.stored_id, from)
                .await
                .map_err(|source| AskError::Store {
                    actor_id: self.stored_id.to_string(),
                    version: self.version,
                    source,
                })?;
            let older = events
                .into_iter()
                .take_while(|e| e.version <= through)
                .filter_map(|e| Some((e.version, e.command_id?)));
            self.rare().recent.record_older(older);
        }
        self.ids_unknown_through = 0;
        Ok(())
    }

    /// Reads events from `from` and applies those after the actor's version; remembers
    /// the command ids of all of them.
    async fn apply_stored(&mut self, from: i64) -> Result<(), StartError> {
        let events = self
            .runtime
            .inner
            .events
            .get_events(&self.stored_id, from)
            .await
            .map_err(|err| self.store_failed(from, err))?;
        let limits = self.idempotency_limits();
        for stored in &events {
            if stored.version > self.version {
                let event =
                    A::Event::from_data(&stored.event_type, &stored.data).map_err(|err| {
                        StartError::Decode {
                            actor_id: self.stored_id.to_string(),
                            version: stored.version,
                            event_type: stored.event_type.clone(),
                            reason: err.to_string(),
                        }
                    })?;
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.state.apply(&event))) {
                    self.reload = Reload::Full;
                    return Err(StartError::Apply {
                        actor_id: self.stored_id.to_string(),
                        version: stored.version,
                        event_type: stored.event_type.clone(),
                        message: panic_message(&panic),
                    });
                }
                self.version = stored.version;
            }
            if let Some(command_id) = &stored.command_id {
                self.rare()
                    .recent
                    .record(command_id, stored.version, stored.version, None, limits);
            }
        }
        Ok(())
    }

    fn idempotency_limits(&self) -> Limits {
        let config = &self.registry.config;
        Limits {
            window: config.idempotency_window,
            replies: config.kept_replies,
        }
    }

    /// Whether `command_id` was applied within the idempotency window: its versions, and
    /// its reply if one is kept.
    async fn applied(
        &mut self,
        command_id: &str,
    ) -> Result<Option<(AppliedCommand, Option<A::Reply>)>, AskError<A::Error>> {
        self.reload_if_needed().await?;
        if self.ids_unknown_through > 0 {
            Box::pin(self.load_older_command_ids()).await?;
        }
        let window = self.registry.config.idempotency_window;
        Ok(self
            .rare
            .as_ref()
            .and_then(|rare| rare.recent.get(command_id, window, self.version))
            .map(|applied| (applied.versions, applied.reply.clone())))
    }

    fn rare(&mut self) -> &mut Rare<A::Reply> {
        self.rare.get_or_insert_with(Box::default)
    }

    fn store_failed(&self, version: i64, err: StoreError) -> StartError {
        let actor_id = self.stored_id.to_string();
        match err {
            // A record the store cannot decode knows its version better than the
            // version the read started from. Neither it nor refused input heals.
            StoreError::Serialization { version: at, .. } => StartError::Unreadable {
                actor_id,
                version: if at > 0 { at } else { version },
                source: err,
            },
            StoreError::InvalidInput { .. } => StartError::Unreadable {
                actor_id,
                version,
                source: err,
            },
            source => StartError::Store {
                actor_id,
                version,
                source,
            },
        }
    }

    /// Starts a snapshot write when the version crossed a multiple of the policy and no
    /// other write of this actor is in flight. The write runs in its own task: a slow
    /// snapshot store never delays commands, and a failed write is only traced.
    fn maybe_snapshot(&mut self) {
        let (Some(_), Some(every)) = (
            &self.runtime.inner.snapshots,
            self.registry.config.snapshot_every,
        ) else {
            return;
        };
        let every = i64::try_from(every).unwrap_or(i64::MAX);
        if self.version / every <= self.last_snapshot_version / every {
            return;
        }
        // Only now, on a policy crossing, take a handle on the snapshot store.
        let Some(store) = self.runtime.inner.snapshots.clone() else {
            return;
        };
        let in_flight = Arc::clone(&self.rare().snapshot_in_flight);
        if in_flight.swap(true, Ordering::AcqRel) {
            return; // the next crossing will take it
        }
        let state = match serde_json::to_value(&self.state) {
            Ok(state) => state,
            Err(err) => {
                in_flight.store(false, Ordering::Release);
                warn!(actor_id = %self.id(), version = self.version, error = %err, "cannot serialize state for a snapshot");
                return;
            }
        };
        self.last_snapshot_version = self.version;
        let snapshot = ActorSnapshot {
            actor_id: self.stored_id.to_string(),
            version: self.version,
            state,
            timestamp: chrono::Utc::now(),
        };
        // Shutdown waits for snapshot writes too.
        let live = self.runtime.live_token();
        tokio::spawn(async move {
            if let Err(err) = store.save_snapshot(&snapshot).await {
                warn!(actor_id = %snapshot.actor_id, version = snapshot.version, error = %err, "snapshot write failed");
            }
            in_flight.store(false, Ordering::Release);
            // The store's handle before the token: shutdown returns after both.
            drop(store);
            drop(live);
        });
    }
}

/// A running actor task's state. Its fields drop in order, the liveness token last:
/// `shutdown`, which waits for every token, returns only once the task has released the
/// runtime and the store.
struct Task<A: EventSourced> {
    actor: Actor<A>,
    rx: Mailbox<A>,
    _live: mpsc::Sender<()>,
}

impl<A: EventSourced> Drop for Task<A> {
    fn drop(&mut self) {
        // After a normal end the mailbox is empty; an aborted task (or one whose tokio
        // runtime stopped) leaves commands behind: count them for the runtime's warning.
        let mut dropped = 0u64;
        while let Some(message) = self.rx.try_recv() {
            if matches!(message, Message::Command(_)) {
                dropped += 1;
            }
        }
        let inner = &self.actor.runtime.inner;
        if dropped > 0 || self.actor.in_flight {
            inner.dropped.fetch_add(dropped, Ordering::Relaxed);
            inner
                .interrupted
                .fetch_add(u64::from(self.actor.in_flight), Ordering::Relaxed);
            debug!(actor_type = A::ACTOR_TYPE, actor_id = %self.actor.id(), dropped, interrupted = self.actor.in_flight, "actor task ended with commands undelivered");
        }
        inner.live_count.fetch_sub(1, Ordering::AcqRel);
    }
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

fn outcome_name<E>(err: &AskError<E>) -> &'static str {
    match err {
        AskError::Rejected { .. } => "rejected",
        AskError::Conflict { .. } => "conflict",
        AskError::Store { .. } => "store_error",
        AskError::Encode { .. } => "encode_error",
        AskError::Panicked { .. } => "panicked",
        AskError::StartFailed(_) => "start_failed",
        AskError::Duplicate { .. } => "duplicate",
        _ => "error",
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
