//! The aether store conformance suite, each case on a fresh SQLite file.

mod common;

aether_core::snapshot_store_conformance!(common::TempStore::new().await);

/// The read side: the feed and projection checkpoints, each case on a fresh, empty file.
mod feed {
    use super::common;

    aether_core::feed_conformance!(common::TempStore::new().await);
}
