//! Process managers: commands sent with ids derived from the event, so that handling the
//! events again (a crash before the checkpoint, a reset) never applies a command twice.

mod common;

use std::sync::Arc;

use aether_core::{
    async_trait, CheckpointStore, EventFeed, EventStore, FeedEvent, HandlerError, InMemoryStore,
    Position,
};
use aether_runtime::projection::{
    spawn_process_manager, Commands, ProcessManager, ProjectionOptions, Sent,
};
use aether_runtime::{decode_event, Runtime};
use common::{Account, AccountEvent, Cmd};

/// Mirrors every deposit on a source account into the account "mirror".
struct Mirror;

#[async_trait]
impl ProcessManager for Mirror {
    async fn react(
        &mut self,
        event: &FeedEvent,
        commands: &mut Commands<'_>,
    ) -> Result<(), HandlerError> {
        if !event.event.actor_id.starts_with("Account|src") {
            return Ok(());
        }
        if let AccountEvent::Deposited { amount } = decode_event::<Account>(&event.event)? {
            match commands
                .ask::<Account>("mirror", Cmd::Deposit(amount))
                .await?
            {
                Sent::Replied(_) | Sent::AppliedBefore(_) => {}
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_the_events_again_applies_no_command_twice() {
    let store = Arc::new(InMemoryStore::new());
    let runtime = Runtime::new(store.clone());
    runtime
        .actor::<Account>("mirror")
        .ask(Cmd::Open)
        .await
        .unwrap();
    let mut expected = 0;
    for s in 0..5 {
        let source = runtime.actor::<Account>(format!("src-{s}"));
        source.ask(Cmd::Open).await.unwrap();
        for amount in 1..=10 {
            source.ask(Cmd::Deposit(amount * (s + 1))).await.unwrap();
            expected += amount * (s + 1);
        }
    }
    let options = ProjectionOptions::new().batch_size(7);
    let saga = spawn_process_manager(
        "mirror",
        &runtime,
        store.clone(),
        store.clone(),
        Mirror,
        options.clone(),
    );
    saga.wait_for_head().await.unwrap();
    let mirror = runtime
        .actor::<Account>("mirror")
        .ask(Cmd::Get)
        .await
        .unwrap();
    assert_eq!(mirror.balance, expected);
    let mirror_version = store.get_latest_version("Account|mirror").await.unwrap();
    assert_eq!(
        mirror_version, 51,
        "opened, then one deposit per source deposit"
    );
    saga.stop().await;

    // As after a crash before any checkpoint: every event is handled again.
    store.delete_checkpoint("mirror").await.unwrap();
    let saga = spawn_process_manager(
        "mirror",
        &runtime,
        store.clone(),
        store.clone(),
        Mirror,
        options,
    );
    saga.wait_for_head().await.unwrap();
    let all = store.feed_lag(Position::START).await.unwrap();
    assert_eq!(all, 106);
    assert_eq!(saga.status().handled, all, "every event handled again");
    let mirror = runtime
        .actor::<Account>("mirror")
        .ask(Cmd::Get)
        .await
        .unwrap();
    assert_eq!(mirror.balance, expected, "no deposit mirrored twice");
    assert_eq!(
        store.get_latest_version("Account|mirror").await.unwrap(),
        mirror_version,
        "the replay stored nothing"
    );
    saga.stop().await;
    runtime.shutdown().await;
}
