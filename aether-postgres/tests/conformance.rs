//! The aether store conformance suite, each case on a fresh schema.

mod common;

aether_core::snapshot_store_conformance!(match common::fresh_store().await {
    Some(store) => store,
    None => return,
});
