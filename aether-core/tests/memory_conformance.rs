//! The conformance suite against `InMemoryStore`.

aether_core::snapshot_store_conformance!(aether_core::InMemoryStore::new());

mod as_trait_object {
    use std::sync::Arc;

    use aether_core::{InMemoryStore, SnapshotStore};

    // The same suite through `Arc<dyn SnapshotStore>`, as the runtime holds stores.
    aether_core::snapshot_store_conformance!(
        Arc::new(InMemoryStore::new()) as Arc<dyn SnapshotStore>
    );
}

/// The read side: the feed and checkpoints, on a fresh store per case.
mod feed {
    aether_core::feed_conformance!(aether_core::InMemoryStore::new());
}
