//! Membership, the pure part: what each member's heartbeat record says, which members
//! are alive (seen within the dead-after time, on this member's own clock), and which
//! are *placed* (own shards).
//!
//! A member is placed when it is alive and either `Active`, or `Joining` and
//! acknowledged by every alive `Active` member: a member acknowledges a joiner only after
//! it has handed over (drained and stopped) the shards the joiner takes from it. So a
//! joiner owns nothing until every previous owner of its shards has let go.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A member's phase, in its heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Waiting for the acknowledgements of the active members.
    Joining,
    /// Placed.
    Active,
}

/// The value of a member's heartbeat key, `members.<node>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) node: String,
    /// A fresh id per process: a restarted member is a new incarnation.
    pub(crate) incarnation: String,
    pub(crate) status: Status,
    /// The joiners (`node@incarnation`) this member has handed their shards to.
    #[serde(default)]
    pub(crate) acks: Vec<String>,
    pub(crate) shard_count: u32,
}

impl Record {
    /// `node@incarnation`, how acknowledgements name a joiner.
    pub(crate) fn tag(&self) -> String {
        format!("{}@{}", self.node, self.incarnation)
    }
}

/// A record as last seen, and when (on this member's clock).
#[derive(Debug, Clone)]
struct Seen {
    record: Record,
    at: Instant,
}

/// Every member's last heartbeat as seen here.
#[derive(Debug, Default)]
pub(crate) struct Members {
    seen: BTreeMap<String, Seen>,
    /// Members whose key was deleted (they left gracefully), and when.
    departed: BTreeMap<String, Instant>,
}

impl Members {
    /// A heartbeat of `record` arrived (or was read) at `at`.
    pub(crate) fn observe(&mut self, record: Record, at: Instant) {
        self.departed.remove(&record.node);
        self.seen.insert(record.node.clone(), Seen { record, at });
    }

    /// The member's key was deleted at `at` (it left).
    pub(crate) fn remove(&mut self, node: &str, at: Instant) {
        if self.seen.remove(node).is_some() {
            self.departed.insert(node.to_owned(), at);
        }
    }

    /// The members that left gracefully within `within` of `now`, sorted.
    pub(crate) fn departed(&self, now: Instant, within: Duration) -> Vec<String> {
        self.departed
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) < within)
            .map(|(node, _)| node.clone())
            .collect()
    }

    /// The records of members seen within `dead_after` of `now`.
    pub(crate) fn alive(&self, now: Instant, dead_after: Duration) -> Vec<&Record> {
        self.seen
            .values()
            .filter(|s| now.saturating_duration_since(s.at) < dead_after)
            .map(|s| &s.record)
            .collect()
    }

    /// The placed members, sorted.
    pub(crate) fn placed(&self, now: Instant, dead_after: Duration) -> Vec<String> {
        let alive = self.alive(now, dead_after);
        let active: Vec<&&Record> = alive
            .iter()
            .filter(|r| r.status == Status::Active)
            .collect();
        let mut placed: Vec<String> = alive
            .iter()
            .filter(|r| match r.status {
                Status::Active => true,
                Status::Joining => {
                    let tag = r.tag();
                    active
                        .iter()
                        .filter(|a| a.node != r.node)
                        .all(|a| a.acks.contains(&tag))
                }
            })
            .map(|r| r.node.clone())
            .collect();
        placed.sort();
        placed
    }

    /// The alive joiners (`node@incarnation`) other than `me`.
    pub(crate) fn joiners(&self, now: Instant, dead_after: Duration, me: &str) -> Vec<String> {
        self.alive(now, dead_after)
            .into_iter()
            .filter(|r| r.status == Status::Joining && r.node != me)
            .map(Record::tag)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(node: &str, status: Status, acks: &[&str]) -> Record {
        Record {
            node: node.to_owned(),
            incarnation: "i1".to_owned(),
            status,
            acks: acks.iter().map(|a| (*a).to_owned()).collect(),
            shard_count: 8,
        }
    }

    const DEAD: Duration = Duration::from_millis(1_500);

    #[test]
    fn a_joiner_is_placed_once_every_active_member_acknowledged_it() {
        let now = Instant::now();
        let mut members = Members::default();
        members.observe(record("a", Status::Active, &["c@i1"]), now);
        members.observe(record("b", Status::Active, &[]), now);
        members.observe(record("c", Status::Joining, &[]), now);
        assert_eq!(members.placed(now, DEAD), ["a", "b"]);
        assert_eq!(members.joiners(now, DEAD, "a"), ["c@i1"]);
        members.observe(record("b", Status::Active, &["c@i1"]), now);
        assert_eq!(members.placed(now, DEAD), ["a", "b", "c"]);
    }

    #[test]
    fn a_silent_member_is_dead_and_its_acknowledgement_is_not_needed() {
        let start = Instant::now();
        let mut members = Members::default();
        members.observe(record("a", Status::Active, &[]), start);
        let later = start + Duration::from_secs(2);
        members.observe(record("b", Status::Active, &["c@i1"]), later);
        members.observe(record("c", Status::Joining, &[]), later);
        assert_eq!(members.placed(later, DEAD), ["b", "c"]);
        // The first member alone is placed at once.
        let mut alone = Members::default();
        alone.observe(record("x", Status::Joining, &[]), start);
        assert_eq!(alone.placed(start, DEAD), ["x"]);
        alone.remove("x", start);
        assert!(alone.placed(start, DEAD).is_empty());
        assert_eq!(alone.departed(start, DEAD), ["x"]);
    }

    #[test]
    fn an_acknowledgement_names_an_incarnation() {
        let now = Instant::now();
        let mut members = Members::default();
        members.observe(record("a", Status::Active, &["c@old"]), now);
        members.observe(record("c", Status::Joining, &[]), now);
        assert_eq!(members.placed(now, DEAD), ["a"]);
    }
}
