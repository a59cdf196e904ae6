//! Group commit: the background writers that append many actors' batches per round trip.
//!
//! `save_events` checks and encodes its batch, then hands it to a queue. A few writer
//! tasks take turns at the queue: the one whose turn it is waits for the first batch,
//! takes every batch already queued (up to a limit of events, at most one batch per actor),
//! releases the queue to the next writer and sends the whole group as one statement, in
//! one implicit transaction, on a pooled connection. Under light load a group is one
//! batch and costs one round trip; under heavy load many actors share each round trip and
//! each commit.
//!
//! A batch whose actor already has one in the group is carried to the same writer's next
//! group. A writer with carried batches never waits for the queue: the writer holding it
//! may be parked until new input arrives, and the carried batches must be written even
//! when nothing else is ever appended.
//!
//! Each batch in a group keeps its own version check: the statement's guard accepts or
//! refuses every actor separately, and only accepted actors' events are inserted. A
//! refused batch gets its [`VersionConflictError`] with the current version read right
//! after; the others commit. If the statement fails on the server for a reason other than
//! the connection, every batch of the group is retried alone, so one bad batch cannot fail
//! the others.
//!
//! A batch the statement refused only because its actor was last written by a
//! transaction newer than the group's own (see `Statements::append`: the feed would list
//! the actor's versions out of order) is retried alone, in a fresh transaction, a few
//! times.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aether_core::{BoxError, StoreError, Timestamp, VersionConflictError};
use deadpool_postgres::Pool;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio_postgres::error::SqlState;

use crate::codec::EncodedEvent;
use crate::error::{PostgresError, TimedOut};
use crate::feed::Notifier;
use crate::query::query_cached;
use crate::schema::Statements;

/// One actor's batch, waiting for its group.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) actor_id: String,
    pub(crate) events: Vec<EncodedEvent>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
    /// How many times the batch was retried because of the feed order guard.
    pub(crate) reorders: u8,
}

/// How many times a batch refused by the feed order guard is retried alone.
const MAX_REORDERS: u8 = 5;

/// A batch the feed order guard refused every time it was retried.
#[derive(Debug, thiserror::Error)]
#[error(
    "the append was refused {0} times because newer transactions kept writing the actor \
     first (the feed keeps each actor's versions in order); nothing was written, try again"
)]
struct OrderRetriesExhausted(u8);

impl Batch {
    fn first(&self) -> i64 {
        self.events.first().map_or(0, |e| e.version)
    }

    fn last(&self) -> i64 {
        self.events.last().map_or(0, |e| e.version)
    }
}

/// What the writers share.
#[derive(Debug)]
pub(crate) struct WriterContext {
    pub(crate) pool: Pool,
    pub(crate) statements: Arc<Statements>,
    pub(crate) operation_timeout: Duration,
    pub(crate) max_group_events: usize,
    /// Sends the feed's NOTIFY after commits that inserted events (outside the appending
    /// transaction: see `feed::notifier`).
    pub(crate) notifier: Arc<Notifier>,
    /// Bumped after every commit that inserted events: wakes this process's feed readers.
    pub(crate) wake: Arc<watch::Sender<u64>>,
}

/// Starts `writers` writer tasks on the current tokio runtime and returns the queue they
/// serve. They stop when every sender of the queue is dropped.
pub(crate) fn spawn_writers(
    context: Arc<WriterContext>,
    writers: usize,
    queue_capacity: usize,
) -> mpsc::Sender<Batch> {
    let (tx, rx) = mpsc::channel(queue_capacity.max(1));
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..writers.max(1) {
        tokio::spawn(run_writer(Arc::clone(&context), Arc::clone(&rx)));
    }
    tx
}

async fn run_writer(context: Arc<WriterContext>, queue: Arc<Mutex<mpsc::Receiver<Batch>>>) {
    let max_events = context.max_group_events.max(1);
    // Batches taken from the queue whose actor already had a batch in the group: they go
    // in this writer's next group, before anything new.
    let mut carried: VecDeque<Batch> = VecDeque::new();
    loop {
        let mut group = Group::default();
        for batch in std::mem::take(&mut carried) {
            if let Err(batch) = group.try_add(batch, max_events) {
                carried.push_back(batch);
            }
        }
        // With nothing carried, wait for the queue and then for its first batch. With
        // carried batches, only take what is queued if the queue is free right now: the
        // writer holding it may be parked on an empty queue, and the carried batches must
        // not wait for input that may never come.
        let queue = if group.batches.is_empty() {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(batch) => {
                    let _ = group.try_add(batch, max_events);
                }
                None => return,
            }
            Some(queue)
        } else {
            queue.try_lock().ok()
        };
        if let Some(mut queue) = queue {
            while group.events < max_events && carried.len() < max_events {
                match queue.try_recv() {
                    Ok(batch) => {
                        if let Err(batch) = group.try_add(batch, max_events) {
                            carried.push_back(batch);
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        commit_group(&context, group.batches).await;
    }
}

#[derive(Default)]
struct Group {
    batches: Vec<Batch>,
    actors: HashSet<String>,
    events: usize,
}

impl Group {
    /// Adds the batch unless its actor is already in the group or the group is full
    /// (a first batch is always taken, whatever its size).
    fn try_add(&mut self, batch: Batch, max_events: usize) -> Result<(), Batch> {
        if batch.reply.is_closed() {
            // The caller stopped waiting (cancelled or timed out): the write is not made,
            // which its error already allowed for.
            return Ok(());
        }
        let full = !self.batches.is_empty() && self.events + batch.events.len() > max_events;
        if full || self.actors.contains(&batch.actor_id) {
            return Err(batch);
        }
        self.actors.insert(batch.actor_id.clone());
        self.events += batch.events.len();
        self.batches.push(batch);
        Ok(())
    }
}

/// Why a group statement failed.
enum GroupFailure {
    /// The server refused the statement (the connection is fine).
    Server(tokio_postgres::Error),
    /// The connection, the pool or the clock failed.
    Backend(BoxError),
}

async fn commit_group(context: &WriterContext, mut batches: Vec<Batch>) {
    if batches.is_empty() {
        return;
    }
    // Lock actors in one global order, so concurrent group statements never deadlock.
    batches.sort_unstable_by(|a, b| a.actor_id.cmp(&b.actor_id));
    match append(context, &batches).await {
        Ok(accepted) => settle(context, batches, &accepted).await,
        Err(GroupFailure::Server(err)) if batches.len() > 1 => {
            let err = PostgresError::from(err);
            tracing::debug!(error = %err, batches = batches.len(), "group append refused; retrying its batches one by one");
            for batch in batches {
                Box::pin(commit_group(context, vec![batch])).await;
            }
        }
        Err(GroupFailure::Server(err)) => {
            let batch = batches.pop().expect("one batch");
            let error = server_error(&batch.actor_id, batch.first(), err);
            let _ = batch.reply.send(Err(error));
        }
        Err(GroupFailure::Backend(source)) => {
            tracing::warn!(error = %source, batches = batches.len(), "group append failed");
            for batch in batches {
                let error = StoreError::Backend {
                    actor_id: batch.actor_id.clone(),
                    version: batch.first(),
                    source: Arc::clone(&source),
                };
                let _ = batch.reply.send(Err(error));
            }
        }
    }
}

/// A server-side refusal of one batch, as the caller should see it.
fn server_error(actor_id: &str, version: i64, err: tokio_postgres::Error) -> StoreError {
    let code = err.code();
    if code == Some(&SqlState::UNTRANSLATABLE_CHARACTER)
        || code == Some(&SqlState::CHARACTER_NOT_IN_REPERTOIRE)
        || code == Some(&SqlState::DATETIME_FIELD_OVERFLOW)
    {
        let reason = err
            .as_db_error()
            .map_or_else(|| err.to_string(), |db| db.message().to_owned());
        StoreError::invalid_input(
            actor_id,
            version,
            format!("postgres cannot store it: {reason}"),
        )
    } else {
        StoreError::backend(actor_id, version, PostgresError::from(err))
    }
}

/// Runs the group statement; returns the actors whose batch was accepted.
async fn append(
    context: &WriterContext,
    batches: &[Batch],
) -> Result<HashSet<String>, GroupFailure> {
    let events: usize = batches.iter().map(|b| b.events.len()).sum();
    let mut batch_actor = Vec::with_capacity(batches.len());
    let mut batch_first = Vec::with_capacity(batches.len());
    let mut batch_last = Vec::with_capacity(batches.len());
    let mut actor_id: Vec<&str> = Vec::with_capacity(events);
    let mut version: Vec<i64> = Vec::with_capacity(events);
    let mut event_id: Vec<&str> = Vec::with_capacity(events);
    let mut event_type: Vec<&str> = Vec::with_capacity(events);
    let mut command_id: Vec<Option<&str>> = Vec::with_capacity(events);
    let mut data: Vec<&Value> = Vec::with_capacity(events);
    let mut recorded_at: Vec<Timestamp> = Vec::with_capacity(events);
    let mut recorded_nanos: Vec<i32> = Vec::with_capacity(events);
    for batch in batches {
        batch_actor.push(batch.actor_id.as_str());
        batch_first.push(batch.first());
        batch_last.push(batch.last());
        for e in &batch.events {
            actor_id.push(&batch.actor_id);
            version.push(e.version);
            event_id.push(&e.event_id);
            event_type.push(&e.event_type);
            command_id.push(e.command_id.as_deref());
            data.push(&e.data);
            recorded_at.push(e.recorded_at);
            recorded_nanos.push(e.recorded_nanos);
        }
    }
    let run = async {
        let client = context
            .pool
            .get()
            .await
            .map_err(|err| GroupFailure::Backend(Arc::new(PostgresError::from(err))))?;
        let on_err = |err: tokio_postgres::Error| {
            if err.as_db_error().is_some() && !err.is_closed() {
                GroupFailure::Server(err)
            } else {
                GroupFailure::Backend(Arc::new(PostgresError::from(err)))
            }
        };
        let rows = query_cached(
            &client,
            &context.statements.append,
            &[
                &batch_actor,
                &batch_first,
                &batch_last,
                &actor_id,
                &version,
                &event_id,
                &event_type,
                &command_id,
                &data,
                &recorded_at,
                &recorded_nanos,
            ],
        )
        .await
        .map_err(on_err)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<HashSet<String>, _>>()
            .map_err(|err| GroupFailure::Backend(Arc::new(PostgresError::from(err))))
    };
    match tokio::time::timeout(context.operation_timeout, run).await {
        Ok(result) => result,
        Err(_) => Err(GroupFailure::Backend(Arc::new(TimedOut(
            context.operation_timeout,
        )))),
    }
}

/// Answers every batch of a group that ran: accepted ones succeed, the others get their
/// conflict with the actor's current version.
async fn settle(context: &WriterContext, batches: Vec<Batch>, accepted: &HashSet<String>) {
    let (won, lost): (Vec<Batch>, Vec<Batch>) = batches
        .into_iter()
        .partition(|batch| accepted.contains(&batch.actor_id));
    if !won.is_empty() {
        context.wake.send_modify(|n| *n = n.wrapping_add(1));
        context.notifier.notify();
    }
    for batch in won {
        let _ = batch.reply.send(Ok(()));
    }
    if lost.is_empty() {
        return;
    }
    // A fresh statement sees at least the version that refused the batch (versions only
    // grow), so the reported current version is never below the attempted one.
    let actors: Vec<&str> = lost.iter().map(|b| b.actor_id.as_str()).collect();
    let current = latest_versions(context, &actors).await;
    let mut reorder = Vec::new();
    for mut batch in lost {
        let result = match &current {
            Ok(current) => {
                let current_version = current.get(&batch.actor_id).copied().unwrap_or(0);
                if current_version < batch.first() {
                    // The version check passes: the order guard refused the batch.
                    if batch.reorders < MAX_REORDERS {
                        batch.reorders += 1;
                        reorder.push(batch);
                        continue;
                    }
                    Err(StoreError::backend(
                        &batch.actor_id,
                        batch.first(),
                        OrderRetriesExhausted(batch.reorders),
                    ))
                } else {
                    Err(StoreError::VersionConflict(VersionConflictError {
                        current_version,
                        attempted_version: batch.first(),
                        actor_id: batch.actor_id.clone(),
                    }))
                }
            }
            Err(source) => Err(StoreError::Backend {
                actor_id: batch.actor_id.clone(),
                version: batch.first(),
                source: Arc::clone(source),
            }),
        };
        let _ = batch.reply.send(result);
    }
    for batch in reorder {
        tracing::debug!(actor_id = %batch.actor_id, attempt = batch.reorders, "retrying an append after a newer transaction wrote its actor first");
        Box::pin(commit_group(context, vec![batch])).await;
    }
}

async fn latest_versions(
    context: &WriterContext,
    actors: &[&str],
) -> Result<HashMap<String, i64>, BoxError> {
    let run = async {
        let client = context
            .pool
            .get()
            .await
            .map_err(|e| Arc::new(PostgresError::from(e)) as BoxError)?;
        let rows = query_cached(&client, &context.statements.latest_versions, &[&actors])
            .await
            .map_err(|e| Arc::new(PostgresError::from(e)) as BoxError)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<HashMap<String, i64>, tokio_postgres::Error>>()
            .map_err(|e| Arc::new(PostgresError::from(e)) as BoxError)
    };
    tokio::time::timeout(context.operation_timeout, run)
        .await
        .unwrap_or_else(|_| Err(Arc::new(TimedOut(context.operation_timeout))))
}
