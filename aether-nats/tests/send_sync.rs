//! The public types can be shared across tasks, and the store works as a trait object.

use std::sync::Arc;

use aether_core::SnapshotStore;
use aether_nats::{ConnectError, Layout, NatsStore, NatsStoreBuilder};

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<NatsStore>();
    assert_send_sync::<NatsStoreBuilder>();
    assert_send_sync::<ConnectError>();
    assert_send_sync::<Layout>();
    let _as_object = |store: NatsStore| -> Arc<dyn SnapshotStore> { Arc::new(store) };
}
