//! The conformance suite against the user-written store of `examples/custom_store.rs`.

#[allow(dead_code)]
#[path = "../examples/custom_store.rs"]
mod custom_store;

aether_core::snapshot_store_conformance!(custom_store::MapStore::default());
