//! The aether store conformance suite, each case on a fresh SQLite file.

mod common;

aether_core::snapshot_store_conformance!(common::TempStore::new().await);
