//! Errors returned by stores.
//!
//! [`StoreError`] is the one error type of the store traits. Its first variant,
//! [`StoreError::VersionConflict`], is the optimistic-concurrency signal: another writer
//! got there first. Every variant names the actor (and, where there is one, the version)
//! involved.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A save was refused because its version is not strictly greater than the actor's latest.
///
/// Its `Display` is exactly the seed's text, so logs read the same in Go and Rust:
///
/// ```
/// use aether_core::VersionConflictError;
///
/// let err = VersionConflictError {
///     actor_id: "account-1".into(),
///     attempted_version: 2,
///     current_version: 5,
/// };
/// assert_eq!(
///     err.to_string(),
///     r#"version conflict: actor "account-1" has version 5, cannot save version 2"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionConflictError {
    /// The actor whose history was being appended to.
    pub actor_id: String,
    /// The version the writer tried to save.
    pub attempted_version: i64,
    /// The actor's latest stored version at the time of the attempt.
    pub current_version: i64,
}

impl fmt::Display for VersionConflictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go's %q: a double-quoted string with Go escapes. Rust's `{:?}` on `str` agrees
        // for printable text, quotes and backslashes, which is what actor ids hold.
        write!(
            f,
            "version conflict: actor {:?} has version {}, cannot save version {}",
            self.actor_id, self.current_version, self.attempted_version
        )
    }
}

impl StdError for VersionConflictError {}

/// A boxed, cloneable error from a store's backend (driver, I/O, server).
pub type BoxError = Arc<dyn StdError + Send + Sync + 'static>;

/// Everything a store operation can fail with.
///
/// Match on the variant to decide what to do: retry after reloading on
/// [`VersionConflict`](StoreError::VersionConflict), fix the caller on
/// [`InvalidInput`](StoreError::InvalidInput), inspect the stored data on
/// [`Serialization`](StoreError::Serialization), back off on
/// [`Backend`](StoreError::Backend).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The version was not strictly greater than the actor's latest: another writer won.
    #[error(transparent)]
    VersionConflict(#[from] VersionConflictError),

    /// The request itself is malformed: an empty actor id, a batch mixing actors or not in
    /// increasing version order, an id the backend cannot represent, event data nested
    /// deeper than [`MAX_PAYLOAD_DEPTH`](crate::MAX_PAYLOAD_DEPTH). Nothing was stored.
    #[error("invalid input for actor {actor_id:?} at version {version}: {reason}")]
    InvalidInput {
        /// The actor named by the request (may be empty: that is often the problem).
        actor_id: String,
        /// The version involved (for a read, the version read from).
        version: i64,
        /// What is wrong, in words.
        reason: String,
    },

    /// An event or snapshot could not be encoded for, or decoded from, the backend.
    #[error("cannot encode or decode actor {actor_id:?} at version {version}: {reason}")]
    Serialization {
        /// The actor the record belongs to.
        actor_id: String,
        /// The version of the record (0 when not known).
        version: i64,
        /// What failed.
        reason: String,
    },

    /// The backend failed: connection lost, I/O error, server error, timeout.
    ///
    /// The operation may or may not have taken effect if it was a write whose
    /// acknowledgement was lost; a writer that retries will see a
    /// [`VersionConflict`](StoreError::VersionConflict) if it did.
    #[error("store backend failed for actor {actor_id:?} at version {version}: {source}")]
    Backend {
        /// The actor the operation concerned.
        actor_id: String,
        /// The version involved (for a read, the version read from).
        version: i64,
        /// The backend's own error.
        source: BoxError,
    },
}

impl StoreError {
    /// A [`VersionConflict`](StoreError::VersionConflict) error: `attempted` is not
    /// strictly greater than the actor's `current` latest version.
    pub fn version_conflict(actor_id: impl Into<String>, attempted: i64, current: i64) -> Self {
        StoreError::VersionConflict(VersionConflictError {
            actor_id: actor_id.into(),
            attempted_version: attempted,
            current_version: current,
        })
    }

    /// An [`InvalidInput`](StoreError::InvalidInput) error.
    pub fn invalid_input(
        actor_id: impl Into<String>,
        version: i64,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::InvalidInput {
            actor_id: actor_id.into(),
            version,
            reason: reason.into(),
        }
    }

    /// A [`Serialization`](StoreError::Serialization) error.
    pub fn serialization(
        actor_id: impl Into<String>,
        version: i64,
        reason: impl fmt::Display,
    ) -> Self {
        StoreError::Serialization {
            actor_id: actor_id.into(),
            version,
            reason: reason.to_string(),
        }
    }

    /// A [`Backend`](StoreError::Backend) error wrapping the backend's own error.
    pub fn backend(
        actor_id: impl Into<String>,
        version: i64,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            actor_id: actor_id.into(),
            version,
            source: Arc::new(source),
        }
    }

    /// Whether this is a [`VersionConflict`](StoreError::VersionConflict).
    pub fn is_version_conflict(&self) -> bool {
        matches!(self, StoreError::VersionConflict(_))
    }

    /// The conflict details, if this is a [`VersionConflict`](StoreError::VersionConflict).
    pub fn as_version_conflict(&self) -> Option<&VersionConflictError> {
        match self {
            StoreError::VersionConflict(conflict) => Some(conflict),
            _ => None,
        }
    }

    /// The actor this error concerns.
    pub fn actor_id(&self) -> &str {
        match self {
            StoreError::VersionConflict(conflict) => &conflict.actor_id,
            StoreError::InvalidInput { actor_id, .. }
            | StoreError::Serialization { actor_id, .. }
            | StoreError::Backend { actor_id, .. } => actor_id,
        }
    }

    /// The version this error concerns (the attempted version for a conflict).
    pub fn version(&self) -> i64 {
        match self {
            StoreError::VersionConflict(conflict) => conflict.attempted_version,
            StoreError::InvalidInput { version, .. }
            | StoreError::Serialization { version, .. }
            | StoreError::Backend { version, .. } => *version,
        }
    }
}
