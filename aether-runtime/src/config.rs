//! Per-actor-type settings: [`ActorConfig`] and its defaults.

use std::time::Duration;

/// Settings that may differ per actor type. Start from the runtime's defaults
/// ([`RuntimeBuilder`](crate::RuntimeBuilder)) and override some with
/// [`RuntimeBuilder::configure`](crate::RuntimeBuilder::configure).
///
/// | Setting | Default | Meaning |
/// |---|---|---|
/// | [`mailbox_capacity`](Self::mailbox_capacity) | 64 | commands queued before `ask` waits |
/// | [`snapshot_every`](Self::snapshot_every) | never (or the type's `SNAPSHOT_EVERY`) | events between snapshots |
/// | [`passivate_after`](Self::passivate_after) | 300 s | idle time before an actor's task ends |
/// | [`conflict_retries`](Self::conflict_retries) | 3 | decisions again after a version conflict |
/// | [`ask_timeout`](Self::ask_timeout) | none | how long `ask` waits for a reply |
/// | [`idempotency_window`](Self::idempotency_window) | 1,000 versions | how far back command ids are recognised |
/// | [`kept_replies`](Self::kept_replies) | 64 | replies kept for retried command ids |
/// | [`max_panics`](Self::max_panics) / [`panic_window`](Self::panic_window) | 3 in 60 s | panics tolerated before the actor stops |
/// | [`max_batch`](Self::max_batch) | 64 | queued commands persisted in one append |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActorConfig {
    /// Commands an actor's mailbox holds before `ask` waits (and `try_ask` fails).
    pub mailbox_capacity: usize,
    /// Take a snapshot every this many events; `None`: never. Ignored when the runtime's
    /// store keeps no snapshots.
    ///
    /// When a snapshot is taken: after a command's events are stored, if the version
    /// crossed a multiple of `snapshot_every` (from `v` to `v + n`). The snapshot is of
    /// the state after the whole append, so a multi-event command (or a batch of
    /// commands, see [`max_batch`](Self::max_batch)) that crosses the multiple puts it
    /// at the append's last version, not at the multiple itself. It is
    /// written in its own task (the reply does not wait), one at a time per actor; a
    /// crossing while one is in flight is skipped, and the next crossing takes it.
    pub snapshot_every: Option<u64>,
    /// Stop an actor that received nothing for this long, freeing its memory; the next
    /// command starts it again from the store. `None`: never.
    pub passivate_after: Option<Duration>,
    /// How many times a command is decided again after a version conflict (another
    /// writer) before the caller gets [`AskError::Conflict`](crate::AskError::Conflict).
    pub conflict_retries: u32,
    /// Timeout applied to `ask`; `None`: wait as long as it takes.
    pub ask_timeout: Option<Duration>,
    /// Command ids are remembered for events within this many versions of the latest,
    /// so a repeated command id is recognised ([`AskError::Duplicate`](crate::AskError::Duplicate)).
    /// Rebuilt from the stored events on start. 0 turns duplicate detection off.
    pub idempotency_window: u64,
    /// How many replies of commands with a command id an actor keeps (the most recent
    /// ones, within the idempotency window), so that a retry of the same id gets the
    /// first reply again instead of [`AskError::Duplicate`](crate::AskError::Duplicate).
    /// Kept in memory only, for the actor task's life; 0 keeps none. A remembered id
    /// costs about 370 bytes with a small reply (BENCHMARKS.md); an actor that never
    /// gets a command id pays nothing.
    pub kept_replies: usize,
    /// Panics tolerated within [`panic_window`](ActorConfig::panic_window) before the
    /// actor stops for good.
    pub max_panics: u32,
    /// The window over which panics are counted.
    pub panic_window: Duration,
    /// At most this many commands already waiting in an actor's mailbox are persisted
    /// in one append (at least 1).
    ///
    /// When an actor takes a command and more commands are queued behind it, it takes
    /// those too (never waiting for more: a lone command gains no latency), decides them
    /// in order, each against the state the previous ones left, stores the events of all
    /// of them in one atomic append, and then replies to each, in order. One busy actor
    /// thus pays one store round trip (one fsync on SQLite) per batch instead of per
    /// command. Each command keeps its own outcome: one the domain rejects changes
    /// nothing for the others. A version conflict decides them all again, against the
    /// state rebuilt from the store, up to [`conflict_retries`](Self::conflict_retries)
    /// times, then fails them all with [`AskError::Conflict`](crate::AskError::Conflict).
    /// Another store error fails every command from the first one with events on (their
    /// outcomes rested on the refused append; those decided before it stand), and the
    /// actor rebuilds from the store. A command that panics in `decide` or `apply` ends
    /// the batch before it: the commands before it are stored and answered first, then
    /// it fails alone, as it would unbatched. A message that is not a command (an
    /// [`applied`](crate::ActorRef::applied) inquiry, a passivation request) ends the
    /// batch, so it is answered in mailbox order. A repeated command id within a batch
    /// gets the first one's outcome, as across batches.
    ///
    /// 1 turns batching off: one append per command, as before issue 15. The default,
    /// 64, is the default [`mailbox_capacity`](Self::mailbox_capacity): everything that
    /// waits in a full mailbox goes in one append.
    pub max_batch: usize,
}

impl Default for ActorConfig {
    fn default() -> Self {
        ActorConfig {
            mailbox_capacity: 64,
            snapshot_every: None,
            passivate_after: Some(Duration::from_secs(300)),
            conflict_retries: 3,
            ask_timeout: None,
            idempotency_window: 1_000,
            kept_replies: 64,
            max_panics: 3,
            panic_window: Duration::from_secs(60),
            max_batch: 64,
        }
    }
}

impl ActorConfig {
    /// Sets [`mailbox_capacity`](ActorConfig::mailbox_capacity) (at least 1).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }

    /// Sets [`snapshot_every`](ActorConfig::snapshot_every); 0 means never.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = (events > 0).then_some(events);
        self
    }

    /// Sets [`passivate_after`](ActorConfig::passivate_after).
    pub fn passivate_after(mut self, idle: Option<Duration>) -> Self {
        self.passivate_after = idle;
        self
    }

    /// Sets [`conflict_retries`](ActorConfig::conflict_retries).
    pub fn conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// Sets [`ask_timeout`](ActorConfig::ask_timeout).
    pub fn ask_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.ask_timeout = timeout;
        self
    }

    /// Sets [`idempotency_window`](ActorConfig::idempotency_window).
    pub fn idempotency_window(mut self, versions: u64) -> Self {
        self.idempotency_window = versions;
        self
    }

    /// Sets [`kept_replies`](ActorConfig::kept_replies).
    pub fn kept_replies(mut self, replies: usize) -> Self {
        self.kept_replies = replies;
        self
    }

    /// Sets [`max_batch`](ActorConfig::max_batch) (at least 1; 1 turns batching off).
    pub fn max_batch(mut self, commands: usize) -> Self {
        self.max_batch = commands.max(1);
        self
    }

    /// Sets [`max_panics`](ActorConfig::max_panics) within
    /// [`panic_window`](ActorConfig::panic_window).
    pub fn max_panics(mut self, panics: u32, window: Duration) -> Self {
        self.max_panics = panics;
        self.panic_window = window;
        self
    }
}
