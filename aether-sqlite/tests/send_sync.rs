//! The store's public types can be shared between tasks and threads.

use aether_sqlite::{OpenError, SqliteStore, SqliteStoreBuilder, StoreStats, Synchronous};

fn send_sync<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<SqliteStore>();
    send_sync::<SqliteStoreBuilder>();
    send_sync::<OpenError>();
    send_sync::<StoreStats>();
    send_sync::<Synchronous>();
}

#[test]
fn the_store_is_a_dyn_snapshot_store() {
    fn takes(_: Option<std::sync::Arc<dyn aether_core::SnapshotStore>>) {}
    takes(None::<std::sync::Arc<SqliteStore>>.map(|s| s as _));
}
