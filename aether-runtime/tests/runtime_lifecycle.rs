//! Registry, rehydration, snapshots, passivation and shutdown.

mod common;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use aether_core::{EventStore, SnapshotStore};
use aether_runtime::{AskError, Runtime};
use common::{wait_until, Account, Cmd, TestStore};
use tokio::sync::Semaphore;

/// Invariant 1: concurrent lookups of one id start one task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_lookups_spawn_one_task() {
    let runtime = Runtime::new(Arc::new(TestStore::default()));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let account = runtime.actor::<Account>("hot");
                account.ask(Cmd::Get).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(runtime.stats().spawned, 1);
    assert_eq!(runtime.stats().live, 1);
}

/// Invariant 6 and rehydration on spawn.
#[tokio::test]
async fn a_restarted_runtime_rehydrates_and_snapshot_plus_tail_equals_full_replay() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone()).snapshot_every(10).build();
    let account = runtime.actor::<Account>("rehydrate");
    account.ask(Cmd::Open).await.unwrap();
    for i in 0..34 {
        account.ask(Cmd::Deposit(i)).await.unwrap();
    }
    let live = account.ask(Cmd::Get).await.unwrap();
    runtime.shutdown().await;
    let snapshot = store
        .inner
        .get_latest_snapshot("Account|rehydrate")
        .await
        .unwrap();
    let snapshot = snapshot.expect("a snapshot was written");
    assert_eq!(snapshot.version, 30);

    let reads_before = store.get_events_calls.load(Ordering::SeqCst);
    let runtime = Runtime::builder(store.clone())
        .snapshot_every(10)
        .idempotency_window(0)
        .build();
    let rehydrated = runtime
        .actor::<Account>("rehydrate")
        .ask(Cmd::Get)
        .await
        .unwrap();
    assert_eq!(rehydrated, live);
    assert_eq!(
        store.get_events_calls.load(Ordering::SeqCst),
        reads_before + 1
    );

    let all = store
        .inner
        .get_events("Account|rehydrate", 0)
        .await
        .unwrap();
    assert_eq!(
        Account::replay(&all),
        rehydrated,
        "snapshot + tail == full replay"
    );
    // And with snapshots ignored (a plain event store), the same state.
    let runtime = Runtime::builder_without_snapshots(store.clone()).build();
    assert_eq!(
        runtime
            .actor::<Account>("rehydrate")
            .ask(Cmd::Get)
            .await
            .unwrap(),
        live
    );
}

#[tokio::test]
async fn asks_sent_during_rehydration_wait_in_the_mailbox() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("queued");
    account.ask(Cmd::Open).await.unwrap();
    runtime.shutdown().await;

    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("queued");
    let asks: Vec<_> = (0..50)
        .map(|_| {
            let account = account.clone();
            tokio::spawn(async move { account.ask(Cmd::Deposit(1)).await })
        })
        .collect();
    for ask in asks {
        ask.await.unwrap().unwrap();
    }
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 50);
}

/// A slow snapshot store does not slow commands: with `save_snapshot` blocked, commands
/// keep completing.
#[tokio::test]
async fn a_blocked_snapshot_store_does_not_block_commands() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        snapshot_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::builder(store.clone()).snapshot_every(5).build();
    let account = runtime.actor::<Account>("slow-snapshots");
    account.ask(Cmd::Open).await.unwrap();
    for _ in 0..100 {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    assert_eq!(
        store.snapshot_saves.load(Ordering::SeqCst),
        0,
        "the snapshot write is still blocked"
    );
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 100);
    gate.add_permits(1_000);
    runtime.shutdown().await; // waits for the snapshot write
    assert_eq!(
        store.snapshot_saves.load(Ordering::SeqCst),
        1,
        "one write in flight at a time"
    );
}

#[tokio::test]
async fn a_failed_snapshot_write_is_not_fatal() {
    let store = Arc::new(TestStore::default());
    store.fail_snapshots.store(true, Ordering::SeqCst);
    let runtime = Runtime::builder(store.clone()).snapshot_every(2).build();
    let account = runtime.actor::<Account>("snapshot-fails");
    account.ask(Cmd::Open).await.unwrap();
    for _ in 0..20 {
        account.ask(Cmd::Deposit(2)).await.unwrap();
    }
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 40);
    runtime.shutdown().await;
    assert!(store
        .inner
        .get_latest_snapshot("Account|snapshot-fails")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn an_idle_actor_passivates_and_the_next_ask_rehydrates_it() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone())
        .passivate_after(Some(Duration::from_secs(10)))
        .build();
    let account = runtime.actor::<Account>("sleepy");
    account.ask(Cmd::Open).await.unwrap();
    account.ask(Cmd::Deposit(7)).await.unwrap();
    assert_eq!(runtime.stats().live, 1);
    tokio::time::sleep(Duration::from_secs(11)).await; // paused clock: advances instantly
    wait_until("the idle actor to passivate", || runtime.stats().live == 0).await;
    assert_eq!(runtime.stats().passivated, 1);
    assert_eq!(account.ask(Cmd::Get).await.unwrap().balance, 7);
    assert_eq!(runtime.stats().spawned, 2);
}

/// No ask is lost or hangs in the race between passivation and a new message: many
/// rounds of asks landing right at the edge of the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_at_the_edge_of_passivation_are_never_lost() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::builder(store.clone())
        .passivate_after(Some(Duration::from_millis(1)))
        .build();
    const ACTORS: usize = 8;
    const ROUNDS: usize = 300;
    for a in 0..ACTORS {
        runtime
            .actor::<Account>(format!("edge-{a}"))
            .ask(Cmd::Open)
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..ACTORS)
        .map(|a| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let account = runtime.actor::<Account>(format!("edge-{a}"));
                for round in 0..ROUNDS {
                    // Jitter (not synchronisation): land around the 1 ms idle time
                    // (passivation happens 1-2 sweep ticks of 1 ms after the last command).
                    let pause = Duration::from_micros(((round * 397 + a * 131) % 3_000) as u64);
                    tokio::time::sleep(pause).await;
                    let reply =
                        tokio::time::timeout(Duration::from_secs(10), account.ask(Cmd::Deposit(1)))
                            .await
                            .expect("an ask hung")
                            .expect("an ask failed");
                    assert_eq!(
                        reply.balance,
                        round as i64 + 1,
                        "no deposit lost or doubled"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for a in 0..ACTORS {
        let id = format!("Account|edge-{a}");
        let events = store.inner.get_events(&id, 0).await.unwrap();
        assert_eq!(Account::replay(&events).balance, ROUNDS as i64);
    }
    let stats = runtime.stats();
    assert!(
        stats.passivated > 0,
        "the test must actually passivate: {stats:?}"
    );
    eprintln!("edge test: {stats:?}");
}

#[tokio::test]
async fn shutdown_drains_mailboxes_then_refuses_new_asks() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::builder(store.clone())
        .mailbox_capacity(100)
        .build();
    let account = runtime.actor::<Account>("draining");
    let open = tokio::spawn({
        let account = account.clone();
        async move { account.ask(Cmd::Open).await }
    });
    wait_until("the first command to reach the store", || {
        store.save_events_calls.load(Ordering::SeqCst) > 0
    })
    .await;
    // Queue 20 asks behind it: polling each once puts its command in the mailbox (room
    // for 100, and `try_ask` never waits for room), then it waits for its reply.
    let mut queued: Vec<_> = (0..20)
        .map(|_| Box::pin(account.try_ask(Cmd::Deposit(1))))
        .collect();
    for ask in &mut queued {
        let polled = std::future::poll_fn(|cx| Poll::Ready(ask.as_mut().poll(cx))).await;
        assert!(
            polled.is_pending(),
            "a queued ask waits for its reply: {polled:?}"
        );
    }
    let shutdown = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.shutdown().await }
    });
    wait_until("the shutdown to begin", || runtime.is_shutting_down()).await;
    let refused = account.ask(Cmd::Get).await.unwrap_err();
    assert!(
        matches!(refused, AskError::ShuttingDown { .. }),
        "{refused:?}"
    );
    gate.add_permits(1_000);
    open.await.unwrap().unwrap();
    let mut ok = 0;
    for ask in queued {
        match ask.await {
            Ok(_) => ok += 1,
            Err(other) => panic!("a queued ask was not drained: {other:?}"),
        }
    }
    shutdown.await.unwrap();
    assert_eq!(runtime.stats().live, 0, "every actor task has ended");
    let events = store.inner.get_events("Account|draining", 0).await.unwrap();
    assert_eq!(
        events.len(),
        1 + ok,
        "every acknowledged deposit is stored, nothing else"
    );
    assert_eq!(ok, 20, "every queued ask was drained");
}

#[tokio::test]
async fn shutdown_timeout_aborts_stuck_actors() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("stuck");
    let stuck = tokio::spawn(async move { account.ask(Cmd::Open).await });
    wait_until("the command to reach the store", || {
        store.save_events_calls.load(Ordering::SeqCst) > 0
    })
    .await;
    let err = runtime
        .shutdown_timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.remaining, 1);
    let answer = stuck.await.unwrap().unwrap_err();
    assert!(
        matches!(answer, AskError::ShuttingDown { .. }),
        "{answer:?}"
    );
    assert_eq!(runtime.stats().live, 0);
}

/// When `shutdown` returns, every actor task and snapshot write has ended and released
/// the runtime and the store (so a store that must be closed by value can be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_shutdown_returns_no_task_holds_the_store() {
    for round in 0..30 {
        let store = Arc::new(TestStore::default());
        let runtime = Runtime::builder(store.clone()).snapshot_every(1).build();
        let asks: Vec<_> = (0..50)
            .map(|i| {
                let account = runtime.actor::<Account>(format!("r{round}-{i}"));
                tokio::spawn(async move { account.ask(Cmd::Open).await })
            })
            .collect();
        for ask in asks {
            ask.await.unwrap().unwrap();
        }
        runtime.shutdown().await;
        drop(runtime);
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "round {round}: a task still held the store after shutdown returned"
        );
    }
}

/// `ShuttingDown` says whether shutdown is under way or finished.
#[tokio::test]
async fn asks_during_and_after_shutdown_say_which() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(gate.clone()),
        ..TestStore::default()
    });
    let runtime = Runtime::new(store.clone());
    let account = runtime.actor::<Account>("closing");
    // Queued before shutdown begins; the actor blocks in its append.
    account.tell(Cmd::Open).await.unwrap();
    let shutdown = runtime.shutdown();
    tokio::pin!(shutdown);
    // The first poll begins the shutdown; the actor cannot end before its append does.
    assert!(futures::poll!(&mut shutdown).is_pending());
    let during = account.ask(Cmd::Get).await.unwrap_err();
    assert!(
        matches!(
            during,
            AskError::ShuttingDown {
                finished: false,
                ..
            }
        ),
        "{during:?}"
    );
    assert!(during.to_string().contains("is shutting down"), "{during}");
    gate.add_permits(1);
    shutdown.await;
    assert_eq!(
        store
            .inner
            .get_events("Account|closing", 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let after = account.ask(Cmd::Get).await.unwrap_err();
    assert!(
        matches!(after, AskError::ShuttingDown { finished: true, .. }),
        "{after:?}"
    );
    assert!(after.to_string().contains("has shut down"), "{after}");
}

/// An empty id is refused with a clear error, and no task is started for it.
#[tokio::test]
async fn an_empty_actor_id_is_refused() {
    let store = Arc::new(TestStore::default());
    let runtime = Runtime::new(store.clone());
    let nobody = runtime.actor::<Account>("");
    let err = nobody.ask(Cmd::Open).await.unwrap_err();
    assert!(matches!(err, AskError::InvalidId { .. }), "{err:?}");
    assert!(err.to_string().contains("empty"), "{err}");
    // A told command comes back with the reason.
    let told = nobody.tell(Cmd::Deposit(7)).await.unwrap_err();
    assert!(matches!(told.error, AskError::InvalidId { .. }), "{told}");
    assert_eq!(told.command, Cmd::Deposit(7));
    let tried = nobody.try_tell(Cmd::Deposit(8)).unwrap_err();
    assert!(matches!(tried.error, AskError::InvalidId { .. }), "{tried}");
    assert_eq!(tried.command, Cmd::Deposit(8));
    assert_eq!(runtime.stats().spawned, 0, "no task for an empty id");
    assert!(store
        .inner
        .get_events("Account|", 1)
        .await
        .unwrap()
        .is_empty());
    runtime.shutdown().await;
}
