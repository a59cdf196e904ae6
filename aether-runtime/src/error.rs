//! Errors a caller of an actor can get, as one enum to match on: [`AskError`].

use std::sync::Arc;
use std::time::Duration;

use aether_core::{StoreError, VersionConflictError};

pub use crate::start_error::StartError;

/// Why an [`ask`](crate::ActorRef::ask) (or `tell`) did not produce a reply.
///
/// `Clone` when the domain error is (every other payload is), so one error can be
/// handed to several waiters. To combine the errors of two actor types in one function,
/// map the domain errors to a common type with [`map_rejection`](AskError::map_rejection)
/// (and `?` into your own error type from there).
///
/// `E` is the actor's own domain error ([`EventSourced::Error`](crate::EventSourced::Error)),
/// carried unchanged in [`Rejected`](AskError::Rejected). Every variant names the actor
/// (its id as stored, `"{ACTOR_TYPE}|{id}"`) and, where one is involved, the version.
///
/// # Examples
///
/// ```
/// use aether_runtime::AskError;
///
/// #[derive(Debug, thiserror::Error)]
/// enum AccountError {
///     #[error("insufficient funds: balance {balance}")]
///     Insufficient { balance: u64 },
/// }
///
/// /// What a handler does with the outcome of `account.ask(Withdraw(500)).await`.
/// fn respond(outcome: Result<(), AskError<AccountError>>) -> Result<&'static str, AskError<AccountError>> {
///     match outcome {
///         Ok(()) => Ok("done"),
///         Err(AskError::Rejected { error: AccountError::Insufficient { .. }, .. }) => Ok("tell the user"),
///         Err(err) if err.is_retryable() => Ok("back off and retry"),
///         Err(err) => Err(err),
///     }
/// }
///
/// let refused = AskError::Rejected {
///     actor_id: "Account|ada".to_owned(),
///     version: 7,
///     error: AccountError::Insufficient { balance: 100 },
/// };
/// assert_eq!(respond(Err(refused)).unwrap(), "tell the user");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AskError<E> {
    /// The domain refused the command ([`EventSourced::decide`](crate::EventSourced::decide)
    /// returned an error). Nothing was persisted.
    #[error("actor {actor_id:?} at version {version} rejected the command: {error}")]
    Rejected {
        /// The actor.
        actor_id: String,
        /// The actor's version when it decided.
        version: i64,
        /// The domain's own error.
        error: E,
    },

    /// Another writer kept winning: the command still conflicted after the configured
    /// number of retries. Nothing of this command was persisted.
    #[error("actor {actor_id:?}: command still conflicted after {attempts} attempts: {conflict}")]
    Conflict {
        /// The actor.
        actor_id: String,
        /// How many times the command was decided and tried.
        attempts: u32,
        /// The last conflict.
        conflict: VersionConflictError,
    },

    /// The store failed. If it failed while persisting, the events may or may not be
    /// stored (a lost acknowledgement); the actor reloads from the store before its
    /// next command, so its state always matches what is stored.
    #[error("actor {actor_id:?} at version {version}: store error: {source}")]
    Store {
        /// The actor.
        actor_id: String,
        /// The actor's version when the store failed.
        version: i64,
        /// The store's error.
        source: StoreError,
    },

    /// An event produced by the command could not be encoded as JSON, or its data nests
    /// deeper than [`MAX_PAYLOAD_DEPTH`](aether_core::MAX_PAYLOAD_DEPTH) (no store could
    /// read it back). Nothing was persisted.
    #[error(
        "actor {actor_id:?} at version {version}: cannot encode event {event_type:?}: {reason}"
    )]
    Encode {
        /// The actor.
        actor_id: String,
        /// The version the event would have had.
        version: i64,
        /// The event's type.
        event_type: String,
        /// The encoder's message.
        reason: String,
    },

    /// The mailbox was full (only from `try_ask` / `try_tell`, which do not wait).
    #[error("actor {actor_id:?}: mailbox full")]
    MailboxFull {
        /// The actor.
        actor_id: String,
    },

    /// No reply within the timeout. The command may still be executed later: use a
    /// command id (`ask_with`) to make retrying it safe.
    #[error("actor {actor_id:?}: no reply within {after:?}")]
    Timeout {
        /// The actor.
        actor_id: String,
        /// The timeout that elapsed.
        after: Duration,
    },

    /// `decide` or `apply` panicked. The actor rebuilt its state from the store and goes
    /// on serving, unless it panicked too often (then later asks get
    /// [`Stopped`](AskError::Stopped)).
    #[error("actor {actor_id:?} at version {version} panicked: {message}")]
    Panicked {
        /// The actor.
        actor_id: String,
        /// The actor's version when it panicked.
        version: i64,
        /// The panic's message, when it was a string.
        message: String,
    },

    /// The actor could not start: its history could not be read, decoded or applied.
    /// [`StartError::is_retryable`] tells a store failure (the next ask tries the start
    /// again) from a cause in the history or the code; [`StartError`] says what to do.
    #[error(transparent)]
    StartFailed(Arc<StartError>),

    /// The actor stopped for good (it panicked too often); it answers every ask with
    /// this error until the runtime is restarted.
    #[error("actor {actor_id:?} at version {version} stopped: {reason}")]
    Stopped {
        /// The actor.
        actor_id: String,
        /// Its last version.
        version: i64,
        /// Why it stopped.
        reason: String,
    },

    /// The runtime is shutting down (or has shut down) and takes no new commands.
    #[error("actor {actor_id:?}: the runtime {}", if *finished { "has shut down" } else { "is shutting down" })]
    ShuttingDown {
        /// The actor.
        actor_id: String,
        /// Whether shutdown had finished (every actor ended) when the command came.
        finished: bool,
    },

    /// The actor's task ended before answering, without a reason the runtime knows (it
    /// was aborted, or the tokio runtime under it stopped). The command may or may not
    /// have been applied: retry it with the same command id
    /// ([`AskOptions::command_id`](crate::AskOptions::command_id)), which applies it at
    /// most once, or ask [`ActorRef::applied`](crate::ActorRef::applied).
    #[error("actor {actor_id:?}: the actor task ended before answering; the command may or may not have been applied")]
    Interrupted {
        /// The actor.
        actor_id: String,
    },

    /// The actor id is not usable (it is empty). Nothing was sent.
    #[error("actor {actor_id:?}: invalid actor id: {reason}")]
    InvalidId {
        /// The actor, as it would be stored.
        actor_id: String,
        /// What is wrong with the id.
        reason: String,
    },

    /// The command carried a command id the actor has already persisted events for; it
    /// was not applied again. A retry within the actor's
    /// [`kept_replies`](crate::ActorConfig::kept_replies) gets the first reply instead;
    /// this error comes when the reply is no longer kept (the actor restarted, or many
    /// commands came since) and names the versions the first application produced.
    #[error(
        "actor {actor_id:?}: command {command_id:?} was already applied (versions {first_version} to {version}); its reply is no longer kept"
    )]
    Duplicate {
        /// The actor.
        actor_id: String,
        /// The repeated command id.
        command_id: String,
        /// The version of the last event the earlier command produced.
        version: i64,
        /// The version of the first event the earlier command produced.
        first_version: i64,
    },
}

impl<E> AskError<E> {
    /// The actor this error concerns, as stored (`"{ACTOR_TYPE}|{id}"`).
    pub fn actor_id(&self) -> &str {
        match self {
            AskError::Rejected { actor_id, .. }
            | AskError::Conflict { actor_id, .. }
            | AskError::Store { actor_id, .. }
            | AskError::Encode { actor_id, .. }
            | AskError::MailboxFull { actor_id }
            | AskError::Timeout { actor_id, .. }
            | AskError::Panicked { actor_id, .. }
            | AskError::Stopped { actor_id, .. }
            | AskError::ShuttingDown { actor_id, .. }
            | AskError::InvalidId { actor_id, .. }
            | AskError::Interrupted { actor_id }
            | AskError::Duplicate { actor_id, .. } => actor_id,
            AskError::StartFailed(err) => err.actor_id(),
        }
    }

    /// Whether the actor panicked handling this command (like tokio's
    /// `JoinError::is_panic`).
    pub fn is_panic(&self) -> bool {
        matches!(self, AskError::Panicked { .. })
    }

    /// The domain's error, if the command was rejected.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            AskError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The domain's error by value, if the command was rejected.
    pub fn into_rejection(self) -> Option<E> {
        match self {
            AskError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the same ask may succeed if tried again later: a full mailbox, a timeout,
    /// a conflict, a failure of the store's backend (down, timed out, connection lost),
    /// a start that failed because the store did ([`StartError::is_retryable`]). A store
    /// that refused the request as invalid ([`StoreError::InvalidInput`]) or could not
    /// encode or decode it ([`StoreError::Serialization`]) refuses it again: not
    /// retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            AskError::MailboxFull { .. }
            | AskError::Timeout { .. }
            | AskError::Conflict { .. }
            | AskError::Interrupted { .. } => true,
            AskError::Store { source, .. } => matches!(
                source,
                StoreError::Backend { .. } | StoreError::VersionConflict(_)
            ),
            AskError::StartFailed(err) => err.is_retryable(),
            _ => false,
        }
    }

    /// Maps the domain error type, keeping every other variant: the way to bring the
    /// errors of several actor types under one type.
    ///
    /// ```
    /// use aether_runtime::AskError;
    ///
    /// #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    /// enum AppError {
    ///     #[error("account: {0}")]
    ///     Account(String),
    ///     #[error("order: {0}")]
    ///     Order(String),
    /// }
    ///
    /// let refused: AskError<std::fmt::Error> = AskError::Rejected {
    ///     actor_id: "Account|ada".into(),
    ///     version: 3,
    ///     error: std::fmt::Error,
    /// };
    /// let app: AskError<AppError> = refused.map_rejection(|e| AppError::Account(e.to_string()));
    /// let copy = app.clone(); // `Clone` because `AppError` is
    /// assert_eq!(copy.rejection(), Some(&AppError::Account("an error occurred when formatting an argument".into())));
    /// # let _ = AppError::Order(String::new());
    /// ```
    pub fn map_rejection<F>(self, f: impl FnOnce(E) -> F) -> AskError<F> {
        match self {
            AskError::Rejected {
                actor_id,
                version,
                error,
            } => AskError::Rejected {
                actor_id,
                version,
                error: f(error),
            },
            AskError::Conflict {
                actor_id,
                attempts,
                conflict,
            } => AskError::Conflict {
                actor_id,
                attempts,
                conflict,
            },
            AskError::Store {
                actor_id,
                version,
                source,
            } => AskError::Store {
                actor_id,
                version,
                source,
            },
            AskError::Encode {
                actor_id,
                version,
                event_type,
                reason,
            } => AskError::Encode {
                actor_id,
                version,
                event_type,
                reason,
            },
            AskError::MailboxFull { actor_id } => AskError::MailboxFull { actor_id },
            AskError::Timeout { actor_id, after } => AskError::Timeout { actor_id, after },
            AskError::Panicked {
                actor_id,
                version,
                message,
            } => AskError::Panicked {
                actor_id,
                version,
                message,
            },
            AskError::StartFailed(err) => AskError::StartFailed(err),
            AskError::Stopped {
                actor_id,
                version,
                reason,
            } => AskError::Stopped {
                actor_id,
                version,
                reason,
            },
            AskError::ShuttingDown { actor_id, finished } => {
                AskError::ShuttingDown { actor_id, finished }
            }
            AskError::InvalidId { actor_id, reason } => AskError::InvalidId { actor_id, reason },
            AskError::Interrupted { actor_id } => AskError::Interrupted { actor_id },
            AskError::Duplicate {
                actor_id,
                command_id,
                version,
                first_version,
            } => AskError::Duplicate {
                actor_id,
                command_id,
                version,
                first_version,
            },
        }
    }
}

/// A told command that was not delivered: the reason, and the command given back (like
/// tokio's `SendError`), so the caller can retry it or send it elsewhere.
///
/// Returned by [`ActorRef::tell`](crate::ActorRef::tell) and
/// [`try_tell`](crate::ActorRef::try_tell).
#[derive(thiserror::Error)]
#[error("{error}; the command was not delivered")]
pub struct NotDelivered<C, E> {
    /// The command, undelivered.
    pub command: C,
    /// Why: [`AskError::MailboxFull`], [`AskError::ShuttingDown`],
    /// [`AskError::Stopped`], [`AskError::StartFailed`], [`AskError::InvalidId`].
    pub error: AskError<E>,
}

impl<C, E: std::fmt::Debug> std::fmt::Debug for NotDelivered<C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The command need not be `Debug`.
        f.debug_struct("NotDelivered")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<C, E> NotDelivered<C, E> {
    /// The reason, dropping the command.
    pub fn into_error(self) -> AskError<E> {
        self.error
    }
}

impl<C, E> From<NotDelivered<C, E>> for AskError<E> {
    fn from(not_delivered: NotDelivered<C, E>) -> Self {
        not_delivered.error
    }
}

/// The runtime did not finish shutting down before the deadline; the remaining actor
/// tasks were aborted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("runtime shutdown deadline of {deadline:?} passed with {remaining} actor tasks still running; they were aborted")]
pub struct ShutdownTimeout {
    /// The deadline given.
    pub deadline: Duration,
    /// How many actor tasks were still running.
    pub remaining: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error(source: StoreError) -> AskError<std::convert::Infallible> {
        AskError::Store {
            actor_id: "Account|a".into(),
            version: 3,
            source,
        }
    }

    #[test]
    fn only_a_store_failure_that_can_heal_is_retryable() {
        let backend = StoreError::backend("Account|a", 3, std::io::Error::other("down"));
        assert!(store_error(backend).is_retryable());
        assert!(store_error(StoreError::version_conflict("Account|a", 3, 4)).is_retryable());
        let invalid = StoreError::invalid_input("Account|a", 3, "data nested too deep");
        assert!(!store_error(invalid).is_retryable());
        let undecodable = StoreError::serialization("Account|a", 3, "not JSON");
        assert!(!store_error(undecodable).is_retryable());
    }
}
