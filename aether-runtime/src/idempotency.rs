//! Command ids: what an actor remembers of the commands it applied, so that a retried
//! command id gets the first outcome instead of being applied twice.
//!
//! For every command id among the events of the idempotency window (the last
//! [`idempotency_window`](crate::ActorConfig::idempotency_window) versions) the actor
//! keeps the versions its events got; for the most recent
//! [`kept_replies`](crate::ActorConfig::kept_replies) of them, applied by this actor task
//! since it started, it also keeps a copy of the reply. A retry then gets that reply
//! again; a retry of an older id, or one after a restart (replies are not stored), gets
//! [`AskError::Duplicate`](crate::AskError::Duplicate) with the versions.

use std::collections::{HashMap, VecDeque};

/// The versions a command's events got: `first_version..=last_version`.
///
/// Returned by [`ActorRef::applied`](crate::ActorRef::applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AppliedCommand {
    /// The version of the command's first event.
    pub first_version: i64,
    /// The version of its last event.
    pub last_version: i64,
}

/// One remembered command id.
#[derive(Debug)]
pub(crate) struct Applied<R> {
    pub(crate) versions: AppliedCommand,
    /// A copy of the reply, while it is among the kept ones.
    pub(crate) reply: Option<R>,
}

/// Command ids seen within the idempotency window.
#[derive(Debug)]
pub(crate) struct RecentCommands<R> {
    by_id: HashMap<Box<str>, Applied<R>>,
    /// `(last version, id)` in the order recorded, for eviction by version.
    order: VecDeque<(i64, Box<str>)>,
    /// The ids whose reply is kept, oldest first.
    replies: VecDeque<Box<str>>,
}

impl<R> Default for RecentCommands<R> {
    fn default() -> Self {
        RecentCommands {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            replies: VecDeque::new(),
        }
    }
}

/// How long the idempotency memory is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Versions back from the latest.
    pub(crate) window: u64,
    /// Replies kept at most.
    pub(crate) replies: usize,
}

impl<R: Clone> RecentCommands<R> {
    /// The command's versions and kept reply, if its last event is within the window
    /// ending at `latest`.
    pub(crate) fn get(&self, command_id: &str, window: u64, latest: i64) -> Option<&Applied<R>> {
        let applied = self.by_id.get(command_id)?;
        (applied.versions.last_version >= oldest_kept(window, latest)).then_some(applied)
    }

    /// Records that `command_id`'s events got `first..=last`, with its reply if it was
    /// applied by this task.
    pub(crate) fn record(
        &mut self,
        command_id: &str,
        first: i64,
        last: i64,
        reply: Option<R>,
        limits: Limits,
    ) {
        if limits.window == 0 {
            return;
        }
        let keep_reply = reply.is_some() && limits.replies > 0;
        match self.by_id.get_mut(command_id) {
            Some(known) => {
                known.versions.first_version = known.versions.first_version.min(first);
                known.versions.last_version = known.versions.last_version.max(last);
                if keep_reply {
                    known.reply = reply;
                }
            }
            None => {
                let versions = AppliedCommand {
                    first_version: first,
                    last_version: last,
                };
                let reply = if keep_reply { reply } else { None };
                self.by_id
                    .insert(command_id.into(), Applied { versions, reply });
            }
        }
        self.order.push_back((last, command_id.into()));
        if keep_reply {
            self.replies.push_back(command_id.into());
            while self.replies.len() > limits.replies {
                let oldest = self.replies.pop_front().expect("longer than the limit");
                // The id may have been evicted, or recorded again since: keep the reply
                // of an id still listed later.
                if !self.replies.contains(&oldest) {
                    if let Some(known) = self.by_id.get_mut(&oldest) {
                        known.reply = None;
                    }
                }
            }
        }
        self.evict(limits.window, last);
    }

    fn evict(&mut self, window: u64, latest: i64) {
        let oldest_kept = oldest_kept(window, latest);
        while let Some((version, _)) = self.order.front() {
            if *version >= oldest_kept {
                break;
            }
            let (version, id) = self.order.pop_front().expect("front exists");
            if self
                .by_id
                .get(&id)
                .is_some_and(|known| known.versions.last_version == version)
            {
                self.by_id.remove(&id);
            }
        }
        if self.replies.len() > self.by_id.len() {
            self.replies.retain(|id| self.by_id.contains_key(id));
        }
    }

    /// Records ids older than every id recorded so far, in ascending version order.
    pub(crate) fn record_older(&mut self, older: impl Iterator<Item = (i64, String)>) {
        let older: Vec<(i64, Box<str>)> = older.map(|(v, id)| (v, id.into())).collect();
        for (version, id) in older.into_iter().rev() {
            let known = self.by_id.entry(id.clone()).or_insert(Applied {
                versions: AppliedCommand {
                    first_version: version,
                    last_version: version,
                },
                reply: None,
            });
            known.versions.first_version = known.versions.first_version.min(version);
            known.versions.last_version = known.versions.last_version.max(version);
            self.order.push_front((version, id));
        }
    }
}

/// The oldest version inside an idempotency window of `window` versions ending at `latest`.
pub(crate) fn oldest_kept(window: u64, latest: i64) -> i64 {
    latest
        .saturating_sub(i64::try_from(window).unwrap_or(i64::MAX))
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        window: 10,
        replies: 2,
    };

    #[test]
    fn keeps_the_latest_replies_and_the_versions_of_the_window() {
        let mut recent = RecentCommands::default();
        recent.record("a", 1, 2, Some("ra"), LIMITS);
        recent.record("b", 3, 3, Some("rb"), LIMITS);
        recent.record("c", 4, 5, Some("rc"), LIMITS);
        // "a" lost its reply (only two kept) but not its versions.
        let a = recent.get("a", 10, 5).unwrap();
        assert_eq!((a.versions.first_version, a.versions.last_version), (1, 2));
        assert_eq!(a.reply, None);
        assert_eq!(recent.get("c", 10, 5).unwrap().reply, Some("rc"));
        assert_eq!(recent.get("b", 10, 5).unwrap().reply, Some("rb"));
        // Beyond the window: forgotten.
        recent.record("d", 13, 13, None, LIMITS);
        assert!(recent.get("a", 10, 13).is_none());
        assert!(recent.get("b", 10, 13).is_none());
        assert!(recent.get("c", 10, 13).is_some());
    }

    #[test]
    fn ids_loaded_from_older_events_span_their_versions() {
        let mut recent: RecentCommands<()> = RecentCommands::default();
        recent.record("new", 5, 5, None, LIMITS);
        recent.record_older([(2, "x".to_owned()), (3, "x".to_owned())].into_iter());
        let x = recent.get("x", 10, 5).unwrap();
        assert_eq!((x.versions.first_version, x.versions.last_version), (2, 3));
    }
}
