//! The aether store conformance suite, each case on a fresh schema.

mod common;

aether_core::snapshot_store_conformance!(match common::fresh_store().await {
    Some(store) => store,
    None => return,
});

/// The read side: every case on a fresh (empty) schema.
mod feed {
    use super::common;

    aether_core::feed_conformance!(match common::fresh_store().await {
        Some(store) => store,
        None => return,
    });
}
