//! [`AskOptions`]: per-ask settings.

use std::time::Duration;

/// Options for one ask: a command id for idempotency, a timeout.
///
/// ```
/// use std::time::Duration;
/// use aether_runtime::AskOptions;
///
/// let options = AskOptions::new()
///     .command_id("payment-7f3a")
///     .timeout(Duration::from_secs(2));
/// # drop(options);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct AskOptions {
    command_id: Option<String>,
    timeout: Option<Duration>,
    no_wait: bool,
}

impl AskOptions {
    /// No command id, the actor type's default timeout, wait for mailbox capacity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tags the command with an id, stored in each of its events' `command_id`. If the
    /// actor has already persisted events for this id (within its
    /// [idempotency window](crate::ActorConfig::idempotency_window)), the command is not
    /// applied again: the ask answers the first reply if the actor still keeps it
    /// ([`kept_replies`](crate::ActorConfig::kept_replies)), else fails with
    /// [`AskError::Duplicate`](crate::AskError::Duplicate) naming the versions the first application produced.
    /// [`ActorRef::applied`](crate::ActorRef::applied) asks the same question without sending the command.
    pub fn command_id(mut self, id: impl Into<String>) -> Self {
        self.command_id = Some(id.into());
        self
    }

    /// Gives up waiting after `timeout` (for mailbox capacity and the reply together)
    /// with [`AskError::Timeout`](crate::AskError::Timeout); overrides the configured
    /// [`ask_timeout`](crate::ActorConfig::ask_timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails with [`AskError::MailboxFull`](crate::AskError::MailboxFull) instead of waiting when the mailbox is full.
    pub fn no_wait(mut self) -> Self {
        self.no_wait = true;
        self
    }
}

impl AskOptions {
    pub(crate) fn into_parts(self) -> (Option<String>, Option<Duration>, bool) {
        (self.command_id, self.timeout, self.no_wait)
    }
}
