//! The public types can cross tasks and threads, and the store works as a trait object.

use std::sync::Arc;

use aether_core::SnapshotStore;
use aether_postgres::{ConnectError, PostgresStore, PostgresStoreBuilder};

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<PostgresStore>();
    assert_send_sync::<PostgresStoreBuilder>();
    assert_send_sync::<ConnectError>();
}

#[allow(dead_code)]
fn store_is_a_snapshot_store_trait_object(store: PostgresStore) -> Arc<dyn SnapshotStore> {
    Arc::new(store)
}
