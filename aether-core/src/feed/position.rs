//! A place in a store's feed ([`Position`]) and its text form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A place in a store's feed: opaque, totally ordered, serializable.
///
/// Users keep positions and hand them back; only stores look inside. The feed is ordered
/// by `(commit, index)`: a store puts in `commit` what orders its commits (a sequence
/// assigned in commit order, a transaction id, a stream sequence) and in `index` the
/// place of an event inside one commit, if it needs one. [`Position::START`] is before
/// every event.
///
/// A store may hand out a position that is not an event's, in a page's
/// [`next`](crate::FeedPage::next) (for instance `index = u64::MAX`: "past the whole commit",
/// after events a filter left out); reading after it works like any other.
///
/// Positions serialize as the string `"commit:index"` (also their `Display`, parsed back
/// by `FromStr`), so they fit a text column, a key-value entry or a log line.
///
/// ```
/// use aether_core::Position;
///
/// let p = Position::new(42, 3);
/// assert_eq!(p.to_string(), "42:3");
/// assert_eq!("42:3".parse::<Position>().unwrap(), p);
/// assert!(Position::START < p && p < Position::new(43, 0));
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#""42:3""#);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    commit: u64,
    index: u64,
}

impl Position {
    /// Before every event: reading after it reads the whole feed.
    pub const START: Position = Position {
        commit: 0,
        index: 0,
    };

    /// A position from its two parts. For store implementations; see the type's docs.
    pub const fn new(commit: u64, index: u64) -> Self {
        Position { commit, index }
    }

    /// The part that orders commits (store-defined).
    pub const fn commit(&self) -> u64 {
        self.commit
    }

    /// The place inside one commit (store-defined).
    pub const fn index(&self) -> u64 {
        self.index
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.commit, self.index)
    }
}

/// A string that is not a [`Position`] (`"commit:index"`, two unsigned integers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a feed position: expected \"commit:index\", two unsigned integers such as \"42:0\"")]
pub struct ParsePositionError {
    /// The string that was given.
    pub input: String,
}

impl FromStr for Position {
    type Err = ParsePositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || ParsePositionError {
            input: s.to_owned(),
        };
        let (commit, index) = s.split_once(':').ok_or_else(fail)?;
        Ok(Position {
            commit: commit.parse().map_err(|_| fail())?,
            index: index.parse().map_err(|_| fail())?,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
