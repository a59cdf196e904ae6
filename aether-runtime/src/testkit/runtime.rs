//! Whole runtimes for tests that need mailboxes, persistence and idempotency.

use std::sync::Arc;

use aether_core::{InMemoryStore, SnapshotStore};

use crate::Runtime;

/// A runtime with default settings on a fresh [`InMemoryStore`], for tests.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runtime = aether_runtime::testkit::in_memory_runtime();
/// # runtime.shutdown().await;
/// # });
/// ```
pub fn in_memory_runtime() -> Runtime {
    in_memory_runtime_and_store().0
}

/// [`in_memory_runtime`], and the store, to look at what was persisted.
pub fn in_memory_runtime_and_store() -> (Runtime, Arc<InMemoryStore>) {
    let store = Arc::new(InMemoryStore::new());
    (runtime_with(Arc::clone(&store)), store)
}

/// A runtime with default settings on `store` (for tests that bring their own store;
/// use [`Runtime::builder`] to change settings).
pub fn runtime_with<S: SnapshotStore + 'static>(store: Arc<S>) -> Runtime {
    Runtime::new(store)
}
