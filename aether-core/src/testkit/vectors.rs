//! The seed's JSON vectors, written by the Go seed's `encoding/json`.

use serde::Deserialize;

use crate::{ActorSnapshot, Event};

/// The contents of the seed's `seed-json.json`: what a Go service built on the seed
/// writes and reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedVectors {
    /// Four events: with and without command id, nested and unicode data, an offset
    /// timestamp, nanoseconds, `i64::MAX` as a version, empty and `null` data.
    pub events: Vec<Event>,
    /// One snapshot.
    pub snapshots: Vec<ActorSnapshot>,
    /// The exact text of the seed's version-conflict error.
    pub version_conflict_message: String,
}

/// The raw JSON text of the seed vectors.
pub const SEED_JSON: &str = include_str!("../../tests/data/seed-json.json");

/// The seed vectors, parsed.
///
/// # Panics
///
/// Never, unless the file shipped with this crate is corrupt (a test checks it is not).
pub fn seed_vectors() -> SeedVectors {
    serde_json::from_str(SEED_JSON).expect("the seed vectors shipped with aether-core parse")
}
