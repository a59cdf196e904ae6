//! The path of several queued commands of one actor (issue 15): decided in order, each
//! against the state the previous ones left, persisted in one atomic append, answered
//! in order.
//!
//! A batch is worked off in rounds. A round decides the commands at the front of what
//! is left, applying each one's events to the state as it goes (before the append, as
//! the one-command path does), and collects their records, versions `v+1..` without
//! gaps, each with its own command's id. Commands decided before the first one that
//! records events are answered at once: their outcome rests on stored state only,
//! exactly as on the one-command path. From the first command with events on, outcomes
//! are held until the one append of the round:
//!
//! - stored: the held commands get their outcomes, in order;
//! - version conflict: the actor rebuilds from the store and decides the held commands
//!   again, up to [`conflict_retries`](crate::ActorConfig::conflict_retries) times, then
//!   they all get [`AskError::Conflict`];
//! - another store error: the held commands all get it (their outcomes rested on the
//!   refused append) and the actor rebuilds from the store before its next command.
//!
//! A panic in `decide` or `apply` ends the round before the command that panicked: the
//! commands before it are appended and answered first, then the panic is handled as on
//! the one-command path (counted, the state rebuilt, that command answered
//! [`AskError::Panicked`]), and the rest of the batch goes on in a new round.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use aether_core::{Event, StoreError};
use tracing::{debug, Instrument, Span};

use super::command::deliver;
use super::lifecycle::{Actor, Reload};
use crate::error::AskError;
use crate::idempotency::Limits;
use crate::mailbox::{Envelope, ReplyTx};
use crate::EventSourced;

/// One command of a batch.
struct Item<A: EventSourced> {
    command: A::Command,
    command_id: Option<String>,
    reply: Option<ReplyTx<A>>,
    /// Its `aether.command` span, as on the one-command path.
    span: Span,
}

/// A command decided in the round, its outcome waiting for the round's append.
struct Held<A: EventSourced> {
    item: Item<A>,
    result: Result<A::Reply, AskError<A::Error>>,
    /// The versions of its events, if it recorded any.
    versions: Option<(i64, i64)>,
    /// The version after it.
    to_version: i64,
}

/// What deciding one command gave.
enum Step<A: EventSourced> {
    /// An outcome that records nothing: a rejection, a query, a retried command id, an
    /// event that does not encode.
    Done(Result<A::Reply, AskError<A::Error>>),
    /// Events recorded (their records pushed to the round's) and applied to the state.
    Persist {
        reply: A::Reply,
        first: i64,
        last: i64,
    },
    /// `decide` or `apply` panicked (after `apply`, the state is half-mutated).
    Panicked(Box<dyn Any + Send>, &'static str),
}

/// How a round ended.
enum Ended<A: EventSourced> {
    /// Every command it took is answered; the rest stays queued.
    Answered,
    /// A command panicked with no command held before it: handle it as a lone one.
    Panicked(Item<A>, Box<dyn Any + Send>, &'static str),
}

impl<A: EventSourced> Actor<A> {
    /// Handles commands taken from the mailbox together (at least two, in mailbox order).
    pub(super) async fn handle_batch(&mut self, batch: Vec<Box<Envelope<A>>>) {
        let mut pending: VecDeque<Item<A>> = batch
            .into_iter()
            .map(|envelope| {
                let Envelope {
                    command,
                    command_id,
                    reply,
                } = *envelope;
                let span = tracing::debug_span!(
                    "aether.command",
                    actor_type = A::ACTOR_TYPE,
                    actor_id = %self.id(),
                    from_version = tracing::field::Empty,
                    to_version = tracing::field::Empty,
                    outcome = tracing::field::Empty,
                );
                Item {
                    command,
                    command_id,
                    reply,
                    span,
                }
            })
            .collect();
        while !pending.is_empty() {
            if let Ended::Panicked(item, panic, during) = self.round(&mut pending).await {
                let err = Box::pin(self.on_panic(panic, during)).await;
                let version = self.version;
                self.answer(item, Err(err), version);
            }
            if let Some(reason) = self.rare.as_ref().and_then(|r| r.stopped.clone()) {
                // Too many panics: what is left of the batch gets what the rest of the
                // mailbox will get.
                for item in pending.drain(..) {
                    let err = AskError::Stopped {
                        actor_id: self.stored_id.to_string(),
                        version: self.version,
                        reason: reason.clone(),
                    };
                    let version = self.version;
                    self.answer(item, Err(err), version);
                }
            }
        }
    }

    /// Decides commands from the front of `pending`, appends their events in one call,
    /// answers them; retries on a version conflict.
    async fn round(&mut self, pending: &mut VecDeque<Item<A>>) -> Ended<A> {
        let retries = self.registry.config.conflict_retries;
        let limits = self.idempotency_limits();
        // The commands of this round: all that wait, then (after a conflict) those that
        // were held, so a retry never takes in commands that were not refused.
        let mut take = pending.len();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if let Err(err) = self.reload_if_needed().await {
                // As on the one-command path: the command fails, the next one tries
                // again (in a new round, with its own retries).
                if let Some(item) = pending.pop_front() {
                    let version = self.version;
                    self.answer(item, Err(err), version);
                }
                return Ended::Answered;
            }
            let base = self.version;
            let mut version = base;
            let mut held: Vec<Held<A>> = Vec::new();
            let mut records: Vec<Event> = Vec::new();
            let mut panicked = None;
            for _ in 0..take {
                let Some(item) = pending.pop_front() else {
                    break;
                };
                item.span.record("from_version", version);
                let earlier = item
                    .command_id
                    .as_deref()
                    .and_then(|id| self.earlier_in_round(id, &held, limits));
                let retried = match (earlier, item.command_id.as_deref()) {
                    (Some(result), _) => Some(result),
                    (None, Some(id)) => self.stored_outcome(id).await,
                    (None, None) => None,
                };
                let step = match retried {
                    Some(result) => Step::Done(result),
                    None => self.decide_one(&item, version, &mut records),
                };
                match step {
                    Step::Done(result) if held.is_empty() => self.answer(item, result, version),
                    Step::Done(result) => held.push(Held {
                        item,
                        result,
                        versions: None,
                        to_version: version,
                    }),
                    Step::Persist { reply, first, last } => {
                        version = last;
                        held.push(Held {
                            item,
                            result: Ok(reply),
                            versions: Some((first, last)),
                            to_version: last,
                        });
                    }
                    Step::Panicked(panic, during) if held.is_empty() => {
                        return Ended::Panicked(item, panic, during)
                    }
                    Step::Panicked(panic, during) => {
                        panicked = Some((item, panic, during));
                        break;
                    }
                }
            }
            if held.is_empty() {
                return Ended::Answered;
            }
            let count = records.len();
            let batch_span = tracing::debug_span!(
                "aether.batch",
                actor_type = A::ACTOR_TYPE,
                actor_id = %self.id(),
                commands = held.len(),
                events = count,
                from_version = base,
                to_version = version,
                attempt = attempts,
            );
            for held in &held {
                held.item.span.follows_from(&batch_span);
            }
            // The bus needs the records after the append; otherwise the store may keep
            // them without a copy.
            let store = &self.context.events;
            let timer = crate::obs::timer();
            let (persisted, published) = if self.context.bus.has_subscribers() {
                let saved = store.save_events(&records).instrument(batch_span).await;
                (saved, Some(records))
            } else {
                let saved = store.append_events(records).instrument(batch_span).await;
                (saved, None)
            };
            crate::obs::store_latency(A::ACTOR_TYPE, "append", timer);
            match persisted {
                Ok(()) => {
                    crate::obs::events_persisted(A::ACTOR_TYPE, count);
                    self.version = version;
                    if limits.window > 0 {
                        for held in &held {
                            if let (Some(id), Some((first, last)), Ok(reply)) =
                                (&held.item.command_id, held.versions, &held.result)
                            {
                                let reply = (limits.replies > 0).then(|| reply.clone());
                                self.rare().recent.record(id, first, last, reply, limits);
                            }
                        }
                    }
                    // Not from the half-mutated state an `apply` panic left.
                    if self.reload == Reload::None {
                        self.maybe_snapshot();
                    }
                    if let Some(records) = published {
                        self.context.bus.publish(A::ACTOR_TYPE, self.id(), records);
                    }
                    for held in held {
                        self.answer(held.item, held.result, held.to_version);
                    }
                    return match panicked {
                        Some((item, panic, during)) => Ended::Panicked(item, panic, during),
                        None => Ended::Answered,
                    };
                }
                Err(StoreError::VersionConflict(conflict)) => {
                    crate::obs::conflict(A::ACTOR_TYPE);
                    debug!(actor_id = %self.id(), %conflict, attempts, commands = held.len(), "version conflict on a batch; rebuilding from the store");
                    // The refused events were applied: rebuild from the store, which
                    // also brings in the other writer's events.
                    self.reload = Reload::Full;
                    if attempts > retries {
                        for held in held {
                            let err = AskError::Conflict {
                                actor_id: self.stored_id.to_string(),
                                attempts,
                                conflict: conflict.clone(),
                            };
                            self.answer(held.item, Err(err), base);
                        }
                        // The command that panicked was decided against the refused
                        // state: decide it again in the next round.
                        if let Some((item, _, _)) = panicked {
                            pending.push_front(item);
                        }
                        return Ended::Answered;
                    }
                    // Decide them all again, in the same order.
                    take = held.len();
                    if let Some((item, _, _)) = panicked {
                        pending.push_front(item);
                        take += 1;
                    }
                    for held in held.into_iter().rev() {
                        pending.push_front(held.item);
                    }
                }
                Err(source) => {
                    // The events were applied, and the append may have landed with its
                    // acknowledgement lost: rebuild from the store before the next
                    // command.
                    self.reload = Reload::Full;
                    for held in held {
                        let err = AskError::Store {
                            actor_id: self.stored_id.to_string(),
                            version: base,
                            source: source.clone(),
                        };
                        self.answer(held.item, Err(err), base);
                    }
                    return match panicked {
                        Some((item, panic, during)) => Ended::Panicked(item, panic, during),
                        None => Ended::Answered,
                    };
                }
            }
        }
    }

    /// The outcome of a command whose id an earlier command of this round has: the
    /// same as once that one's events are stored. `None` when duplicate detection is
    /// off (window 0), as on the one-command path.
    fn earlier_in_round(
        &self,
        command_id: &str,
        held: &[Held<A>],
        limits: Limits,
    ) -> Option<Result<A::Reply, AskError<A::Error>>> {
        if limits.window == 0 {
            return None;
        }
        let earlier = held
            .iter()
            .rev()
            .find(|h| h.versions.is_some() && h.item.command_id.as_deref() == Some(command_id))?;
        let (first_version, version) = earlier.versions?;
        Some(match (&earlier.result, limits.replies > 0) {
            (Ok(reply), true) => Ok(reply.clone()),
            _ => Err(AskError::Duplicate {
                actor_id: self.stored_id.to_string(),
                command_id: command_id.to_owned(),
                version,
                first_version,
            }),
        })
    }

    /// The outcome of a command whose id is among the stored ones, as on the
    /// one-command path: the kept reply, else [`AskError::Duplicate`].
    async fn stored_outcome(
        &mut self,
        command_id: &str,
    ) -> Option<Result<A::Reply, AskError<A::Error>>> {
        match Box::pin(self.applied(command_id)).await {
            Err(err) => Some(Err(err)),
            Ok(Some((_, Some(reply)))) => Some(Ok(reply)),
            Ok(Some((versions, None))) => Some(Err(AskError::Duplicate {
                actor_id: self.stored_id.to_string(),
                command_id: command_id.to_owned(),
                version: versions.last_version,
                first_version: versions.first_version,
            })),
            Ok(None) => None,
        }
    }

    /// Decides one command against the state at `version` (which includes the events
    /// of the commands held before it) and applies its events; its records go to
    /// `records`.
    fn decide_one(&mut self, item: &Item<A>, version: i64, records: &mut Vec<Event>) -> Step<A> {
        let state = &self.state;
        let decided = item
            .span
            .in_scope(|| catch_unwind(AssertUnwindSafe(|| state.decide(&item.command))));
        let decision = match decided {
            Ok(Ok(decision)) => decision,
            Ok(Err(error)) => {
                return Step::Done(Err(AskError::Rejected {
                    actor_id: self.stored_id.to_string(),
                    version,
                    error,
                }))
            }
            Err(panic) => return Step::Panicked(panic, "decide"),
        };
        if decision.events.is_empty() {
            return Step::Done(Ok(decision.reply));
        }
        let mut new = match self.record(&decision.events, item.command_id.as_deref(), version) {
            Ok(new) => new,
            Err(err) => return Step::Done(Err(err)),
        };
        for event in &decision.events {
            let state = &mut self.state;
            if let Err(panic) = item
                .span
                .in_scope(|| catch_unwind(AssertUnwindSafe(|| state.apply(event))))
            {
                // Half-mutated: never snapshot it, rebuild it from the store.
                self.reload = Reload::Full;
                return Step::Panicked(panic, "apply");
            }
        }
        let last = new.last().map_or(version, |e| e.version);
        records.append(&mut new);
        Step::Persist {
            reply: decision.reply,
            first: version.saturating_add(1),
            last,
        }
    }

    /// Sends a batched command's outcome.
    fn answer(
        &mut self,
        item: Item<A>,
        result: Result<A::Reply, AskError<A::Error>>,
        to_version: i64,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        deliver::<A>(self.id(), &item.span, to_version, item.reply, result);
    }
}
