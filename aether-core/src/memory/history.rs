//! One actor's events as [`InMemoryStore`](super::InMemoryStore) keeps them.
//!
//! A saved [`Event`] is not kept as is: its payload is a `serde_json::Value`, and a
//! one-field object costs a whole B-tree node (about 600 bytes) that would stay allocated
//! for the life of the store. A [`Record`] keeps the payload as its JSON text, and shares
//! the actor id and the event type with the actor's other records: about 200 bytes an
//! event instead of about 1 KiB. Reads lend the text ([`EventData::Json`]) to replay, which
//! decodes the actor's event from it directly, and parse it back for `get_events` and the
//! feed (the round trip is exact: the text is what `serde_json` wrote).

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{Event, EventData, EventRef, StoreError, Timestamp};

/// Events per chunk of an actor's history: an append never moves more than this many
/// events when its chunk grows, so a long history costs no long pause under the lock.
const CHUNK: usize = 1_024;

/// One stored event.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) version: i64,
    id: String,
    event_type: Arc<str>,
    pub(super) actor_id: Arc<str>,
    command_id: Option<String>,
    /// The payload's JSON text: within [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH)
    /// levels (the store's `validate_batch` refuses deeper data), so it parses back.
    data: String,
    timestamp: Timestamp,
}

impl Record {
    /// The record lent as an [`EventRef`].
    pub(super) fn lend(&self) -> EventRef<'_> {
        EventRef {
            id: &self.id,
            event_type: &self.event_type,
            actor_id: &self.actor_id,
            command_id: self.command_id.as_deref(),
            version: self.version,
            data: EventData::Json(&self.data),
            timestamp: self.timestamp,
        }
    }

    /// An owned [`Event`], its payload parsed back from the text.
    pub(super) fn to_event(&self) -> Result<Event, StoreError> {
        self.lend()
            .to_event()
            .map_err(|err| StoreError::Serialization {
                actor_id: self.actor_id.to_string(),
                version: self.version,
                reason: format!("stored payload does not parse back: {err}"),
            })
    }

    pub(super) fn event_type(&self) -> &str {
        &self.event_type
    }
}

/// One actor's events in ascending version order, in chunks of at most [`CHUNK`].
#[derive(Debug)]
pub(super) struct History {
    actor_id: Arc<str>,
    /// The event types this actor has used, shared by its records.
    types: Vec<Arc<str>>,
    chunks: Vec<Vec<Arc<Record>>>,
}

impl History {
    pub(super) fn new(actor_id: &str) -> Self {
        History {
            actor_id: Arc::from(actor_id),
            types: Vec::new(),
            chunks: Vec::new(),
        }
    }

    pub(super) fn latest(&self) -> i64 {
        self.chunks
            .last()
            .and_then(|chunk| chunk.last())
            .map_or(0, |e| e.version)
    }

    /// Turns a checked event of this actor into its record.
    pub(super) fn record(&mut self, event: Event) -> Result<Record, StoreError> {
        let Event {
            id,
            event_type,
            command_id,
            version,
            data,
            timestamp,
            ..
        } = event;
        let data = serde_json::to_string(&data).map_err(|err| StoreError::Serialization {
            actor_id: self.actor_id.to_string(),
            version,
            reason: err.to_string(),
        })?;
        let event_type = match self.types.iter().find(|t| ***t == *event_type) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(event_type);
                self.types.push(Arc::clone(&shared));
                shared
            }
        };
        Ok(Record {
            version,
            id,
            event_type,
            actor_id: Arc::clone(&self.actor_id),
            command_id,
            data,
            timestamp,
        })
    }

    pub(super) fn push(&mut self, record: Arc<Record>) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(record),
            _ => self.chunks.push(vec![record]),
        }
    }

    /// The records with `version >= from`, shared (no event is copied).
    pub(super) fn records_from(&self, from: i64) -> Vec<Arc<Record>> {
        // Chunks are never empty.
        let first = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|e| e.version < from));
        let mut records = Vec::new();
        for (i, chunk) in self.chunks[first..].iter().enumerate() {
            let skip = if i == 0 {
                chunk.partition_point(|e| e.version < from)
            } else {
                0
            };
            records.extend(chunk[skip..].iter().cloned());
        }
        records
    }
}

/// Lends `records` to `visit` in order, until it breaks.
pub(super) fn lend_all(
    records: &[Arc<Record>],
    visit: &mut (dyn for<'e> FnMut(EventRef<'e>) -> ControlFlow<()> + Send),
) {
    for record in records {
        if visit(record.lend()).is_break() {
            break;
        }
    }
}
