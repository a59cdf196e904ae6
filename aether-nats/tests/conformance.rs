//! The aether store conformance suite against a real NATS server, one fresh namespace per
//! test (see `common::fresh_store` for what happens without a server).

mod common;

aether_core::snapshot_store_conformance!(match common::fresh_store().await {
    Some(store) => store,
    None => return,
});

/// The read side: every case gets a fresh, empty namespace.
mod feed {
    use super::common;

    aether_core::feed_conformance!(match common::fresh_store().await {
        Some(store) => store,
        None => return,
    });
}
