//! The path of one command, top to bottom: idempotency check, decide, record, apply,
//! persist, snapshot, publish, reply. (Several queued commands together: `batch`.)

use std::panic::{catch_unwind, AssertUnwindSafe};

use aether_core::{Event, StoreError};
use tracing::{debug, warn, Instrument};

use super::lifecycle::{Actor, Reload};
use crate::actor::DomainEvent;
use crate::error::AskError;
use crate::idempotency::{oldest_kept, AppliedCommand, Limits};
use crate::mailbox::{Envelope, Inquiry, ReplyTx};
use crate::EventSourced;

impl<A: EventSourced> Actor<A> {
    pub(super) async fn handle(&mut self, envelope: Envelope<A>) {
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
        deliver::<A>(self.id(), &span, self.version, reply, result);
    }

    pub(super) async fn execute(
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
            let records = self.record(&decision.events, command_id, self.version)?;
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
            let store = &self.context.events;
            let timer = crate::obs::timer();
            let (persisted, published) = if self.context.bus.has_subscribers() {
                (store.save_events(&records).await, Some(records))
            } else {
                (store.append_events(records).await, None)
            };
            crate::obs::store_latency(A::ACTOR_TYPE, "append", timer);
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
                        self.context.bus.publish(A::ACTOR_TYPE, self.id(), records);
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

    /// Turns domain events into stored records: versions `after+1..`, fresh ids.
    pub(super) fn record(
        &self,
        events: &[A::Event],
        command_id: Option<&str>,
        after: i64,
    ) -> Result<Vec<Event>, AskError<A::Error>> {
        let timestamp = chrono::Utc::now();
        // One clock read for the ids and the timestamp; `fast-rng` keeps the random part
        // off the getrandom syscall.
        let uuid_clock = uuid::Timestamp::from_unix(
            uuid::NoContext,
            timestamp.timestamp().max(0) as u64,
            timestamp.timestamp_subsec_nanos(),
        );
        let mut version = after;
        let mut records = Vec::with_capacity(events.len());
        for event in events {
            version = version.checked_add(1).ok_or_else(|| AskError::Store {
                actor_id: self.stored_id.to_string(),
                version: after,
                source: StoreError::invalid_input(
                    self.stored_id.as_ref(),
                    after,
                    "version counter overflow",
                ),
            })?;
            // Data too deep for a store to read back is refused here, as the store
            // would: only this command fails, not the others of its batch.
            let data = event
                .to_data()
                .map_err(|err| err.to_string())
                .and_then(|data| {
                    aether_core::check_payload_depth(&data).map_err(|err| err.to_string())?;
                    Ok(data)
                })
                .map_err(|reason| AskError::Encode {
                    actor_id: self.stored_id.to_string(),
                    version,
                    event_type: event.event_type().to_owned(),
                    reason,
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

    /// Answers [`ActorRef::applied`](crate::ActorRef::applied).
    pub(super) async fn answer_inquiry(&mut self, inquiry: Box<Inquiry<A>>) {
        let answer = self
            .applied(&inquiry.command_id)
            .await
            .map(|found| found.map(|(versions, _)| versions));
        let _ = inquiry.reply.send(answer);
    }

    pub(super) fn idempotency_limits(&self) -> Limits {
        let config = &self.registry.config;
        Limits {
            window: config.idempotency_window,
            replies: config.kept_replies,
        }
    }

    /// Whether `command_id` was applied within the idempotency window: its versions, and
    /// its reply if one is kept.
    pub(super) async fn applied(
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

    /// Reads the command ids of the idempotency window that lie in the snapshot the
    /// actor started from.
    pub(super) async fn load_older_command_ids(&mut self) -> Result<(), AskError<A::Error>> {
        let through = self.ids_unknown_through;
        let window = self.registry.config.idempotency_window;
        let from = oldest_kept(window, self.version).max(1);
        if from <= through {
            let events = self
                .context
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
}

/// Sends a command's outcome to its caller (a told command's failure is traced), and
/// counts and traces it.
pub(super) fn deliver<A: EventSourced>(
    actor_id: &str,
    span: &tracing::Span,
    to_version: i64,
    reply: Option<ReplyTx<A>>,
    result: Result<A::Reply, AskError<A::Error>>,
) {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(err) => outcome_name(err),
    };
    span.record("to_version", to_version);
    span.record("outcome", outcome);
    crate::obs::command(A::ACTOR_TYPE, outcome);
    match reply {
        Some(reply) => {
            let _ = reply.send(result);
        }
        None => {
            if let Err(err) = result {
                warn!(actor_type = A::ACTOR_TYPE, actor_id = %actor_id, error = %err, "told command failed");
            }
        }
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
