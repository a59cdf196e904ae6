//! The store's public types can be shared between tasks and threads.

use aether_sqlite::{
    OpenError, SqliteProjection, SqliteProjectionSink, SqliteStore, SqliteStoreBuilder, StoreStats,
    Synchronous,
};

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

#[test]
fn the_store_is_a_dyn_feed_and_checkpoint_store() {
    fn feed(_: Option<std::sync::Arc<dyn aether_core::EventFeed>>) {}
    fn checkpoints(_: Option<std::sync::Arc<dyn aether_core::CheckpointStore>>) {}
    feed(None::<std::sync::Arc<SqliteStore>>.map(|s| s as _));
    checkpoints(None::<std::sync::Arc<SqliteStore>>.map(|s| s as _));
}

#[test]
fn a_projection_sink_is_a_boxed_projection_sink() {
    struct Nothing;
    impl SqliteProjection for Nothing {
        fn handle(
            &mut self,
            _: &aether_sqlite::rusqlite::Transaction<'_>,
            _: &aether_core::FeedEvent,
        ) -> Result<(), aether_core::HandlerError> {
            Ok(())
        }
    }
    fn send<T: Send + 'static>() {}
    send::<SqliteProjectionSink<Nothing>>();
    fn takes(_: Option<Box<dyn aether_core::ProjectionSink>>) {}
    takes(None::<SqliteProjectionSink<Nothing>>.map(|s| Box::new(s) as _));
}
