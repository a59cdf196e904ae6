//! [`StartError`]: why an actor could not start, and what to do about it.

use aether_core::StoreError;

/// Why an actor could not start (rehydrate from its snapshot and events).
///
/// Every ask waiting for the start gets this error (in [`AskError::StartFailed`](crate::AskError::StartFailed)). The
/// actor is not kept: the next ask tries the start again, so a [`Store`](StartError::Store)
/// failure heals by itself once the store is back ([`is_retryable`](StartError::is_retryable)).
/// The other causes are in the stored history or in the code, and repeat until one of
/// them changes.
///
/// # What to do
///
/// - [`Decode`](StartError::Decode): an event type was renamed or its fields changed.
///   Keep the old name readable (`#[aether(alias = "Old")]` on the variant that replaced
///   it, or `#[aether(rename = "Old")]` to keep storing under it) or the old
///   fields (`#[serde(default)]`, `#[serde(alias = "old")]`).
/// - [`Apply`](StartError::Apply): `apply` panics on an event that is already stored
///   (for example an underflow the code once allowed). Stored events are immutable:
///   make `apply` accept that event again (saturating arithmetic, or the old rule for
///   events before the version named).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store failed while the actor read its snapshot or events. Retryable: the
    /// next ask tries the start again.
    #[error("actor {actor_id:?} could not start: the store failed reading from version {version} (retryable: the next ask tries the start again): {source}")]
    Store {
        /// The actor, as stored.
        actor_id: String,
        /// The version the read started from (0: the snapshot read).
        version: i64,
        /// The store's error.
        source: StoreError,
    },

    /// The store cannot read this actor's history: a record it cannot decode (a corrupt
    /// row), or an id the backend refuses. Retrying does not help; the history or the id
    /// needs repair.
    #[error("actor {actor_id:?} failed to start: the store cannot read its history at version {version} (not retryable): {source}")]
    Unreadable {
        /// The actor, as stored.
        actor_id: String,
        /// The version of the unreadable record, or the version the read started from.
        version: i64,
        /// The store's error.
        source: StoreError,
    },

    /// A stored event does not decode into the actor's event type.
    #[error("actor {actor_id:?} failed to start: cannot decode stored event {event_type:?} at version {version}: {reason}; stored events are immutable: keep the old name or shape readable (#[aether(alias = \"OldName\")] on the variant that replaced it, #[serde(default)] or #[serde(alias = \"old\")] on fields)")]
    Decode {
        /// The actor, as stored.
        actor_id: String,
        /// The event's version.
        version: i64,
        /// The stored event type.
        event_type: String,
        /// The decoder's message.
        reason: String,
    },

    /// `apply` panicked on a stored event.
    #[error("actor {actor_id:?} failed to start: `apply` panicked on stored event {event_type:?} at version {version}: {message}; stored events are immutable: make `apply` accept this event again (e.g. saturating arithmetic, or the old rule for events up to version {version})")]
    Apply {
        /// The actor, as stored.
        actor_id: String,
        /// The event's version.
        version: i64,
        /// The stored event type.
        event_type: String,
        /// The panic's message, when it was a string.
        message: String,
    },
}

impl StartError {
    /// The actor, as stored (`"{ACTOR_TYPE}|{id}"`).
    pub fn actor_id(&self) -> &str {
        match self {
            StartError::Store { actor_id, .. }
            | StartError::Unreadable { actor_id, .. }
            | StartError::Decode { actor_id, .. }
            | StartError::Apply { actor_id, .. } => actor_id,
        }
    }

    /// The version of the record that failed, or the version the read started from when
    /// the store failed.
    pub fn version(&self) -> i64 {
        match self {
            StartError::Store { version, .. }
            | StartError::Unreadable { version, .. }
            | StartError::Decode { version, .. }
            | StartError::Apply { version, .. } => *version,
        }
    }

    /// The stored event type, when an event failed to decode or apply.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            StartError::Decode { event_type, .. } | StartError::Apply { event_type, .. } => {
                Some(event_type)
            }
            _ => None,
        }
    }

    /// The store's error, when the store failed or holds an unreadable record.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            StartError::Store { source, .. } | StartError::Unreadable { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }

    /// Whether the start may succeed if tried again: the store failed (down, timed out,
    /// connection lost). The next ask to the actor tries the start again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StartError::Store { .. })
    }
}
