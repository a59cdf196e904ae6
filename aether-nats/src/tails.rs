//! The last stored batch of each actor this handle has written or read, so that a save
//! publishes at once with `Nats-Expected-Last-Subject-Sequence` instead of reading the
//! subject's head first (one round trip instead of two).
//!
//! The cache is a hint, never the version check: the server accepts a publish only if the
//! subject's last message still is the remembered one, so a stale entry (another process
//! appended, or this handle's own save was cancelled after it reached the server) costs a
//! rejected publish and a fresh read, never a wrong version. Entries come only from what
//! the server said: a publish acknowledgement (the batch's last version, the sequence the
//! server gave it) or a read of the subject's head.
//!
//! Bounded: [`SHARDS`] shards of at most `capacity / SHARDS` actors each; a full shard
//! drops an arbitrary entry, whose actor then pays one read on its next save.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Shards of the map (independent locks, so concurrent saves rarely wait on each other).
const SHARDS: usize = 16;

/// Where an actor's subject ends: the last version stored and the stream sequence of the
/// message that holds it; `Tail::EMPTY` for a subject with no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    /// The last version stored (0: none).
    pub(crate) version: i64,
    /// The stream sequence of the subject's last message (0: none), what the next
    /// publish expects as the subject's last sequence.
    pub(crate) sequence: u64,
}

impl Tail {
    /// A subject with no message: the next publish expects last sequence 0.
    pub(crate) const EMPTY: Tail = Tail {
        version: 0,
        sequence: 0,
    };
}

/// One shard: actor id to tail.
type Shard = HashMap<Box<str>, Tail>;

/// The tails of the actors one store handle (and its clones) works on.
pub(crate) struct Tails {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
}

impl Tails {
    /// A cache of at most about `capacity` actors; 0 turns it off (every save reads the
    /// head first).
    pub(crate) fn new(capacity: usize) -> Self {
        Tails {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, actor_id: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(actor_id) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The remembered tail of the actor, if any.
    pub(crate) fn get(&self, actor_id: &str) -> Option<Tail> {
        if self.per_shard == 0 {
            return None;
        }
        self.shard(actor_id).get(actor_id).copied()
    }

    /// Remembers `tail` unless a later one (higher sequence) is remembered already: two
    /// answers of the server racing to update the entry leave the newer one.
    pub(crate) fn remember(&self, actor_id: &str, tail: Tail) {
        self.put(actor_id, tail, false);
    }

    /// Remembers `tail` whatever was remembered: what the server just said after it
    /// refused the remembered one.
    pub(crate) fn replace(&self, actor_id: &str, tail: Tail) {
        self.put(actor_id, tail, true);
    }

    fn put(&self, actor_id: &str, tail: Tail, replace: bool) {
        if self.per_shard == 0 {
            return;
        }
        let mut shard = self.shard(actor_id);
        if let Some(known) = shard.get_mut(actor_id) {
            if replace || tail.sequence >= known.sequence {
                *known = tail;
            }
            return;
        }
        if shard.len() >= self.per_shard {
            if let Some(evicted) = shard.keys().next().cloned() {
                shard.remove(&evicted);
            }
        }
        shard.insert(actor_id.into(), tail);
    }

    /// Forgets the actor's tail (a save whose outcome is unknown).
    pub(crate) fn forget(&self, actor_id: &str) {
        if self.per_shard == 0 {
            return;
        }
        self.shard(actor_id).remove(actor_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(version: i64, sequence: u64) -> Tail {
        Tail { version, sequence }
    }

    #[test]
    fn keeps_the_later_tail_unless_replaced() {
        let tails = Tails::new(100);
        assert_eq!(tails.get("a"), None);
        tails.remember("a", tail(3, 10));
        tails.remember("a", tail(2, 7));
        assert_eq!(tails.get("a"), Some(tail(3, 10)));
        tails.remember("a", tail(5, 12));
        assert_eq!(tails.get("a"), Some(tail(5, 12)));
        tails.replace("a", tail(4, 11));
        assert_eq!(tails.get("a"), Some(tail(4, 11)));
        tails.forget("a");
        assert_eq!(tails.get("a"), None);
    }

    #[test]
    fn stays_within_its_capacity() {
        let tails = Tails::new(64);
        for i in 0..10_000 {
            tails.remember(&format!("actor-{i}"), tail(1, i));
        }
        let held: usize = tails.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 64, "{held}");
        assert_eq!(tails.get("actor-9999"), Some(tail(1, 9999)));
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let tails = Tails::new(0);
        tails.remember("a", tail(1, 1));
        assert_eq!(tails.get("a"), None);
    }
}
