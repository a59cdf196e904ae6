//! A runtime dropped without `shutdown()`: never silent, and it drains when it can.
//! (Alone in its test binary: it installs a global tracing subscriber,
//! `common::warnings`, because tokio drops tasks on its worker threads.)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_core::EventStore;
use aether_runtime::Runtime;
use common::warnings::{field, warnings};
use common::{Counter, TestStore};
use tokio::sync::Semaphore;

/// A tokio runtime of its own, so that the test decides when it stops.
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A runtime whose mailboxes hold every command the tests tell.
fn roomy_runtime(store: &Arc<TestStore>) -> Runtime {
    Runtime::builder(store.clone())
        .mailbox_capacity(2_000)
        .build()
}

fn message(fields: &[(String, String)]) -> &str {
    field(fields, "message").unwrap_or_default()
}

/// 1,000 tells, then the end of "main" without `shutdown()`, while the first command
/// is still being persisted: both steps are reported, with the exact counts.
#[test]
fn a_runtime_dropped_with_its_tokio_runtime_reports_every_command_it_lost() {
    let (warnings, _turn) = warnings();
    let gate = Arc::new(Semaphore::new(0)); // the store never finishes an append
    let store = Arc::new(TestStore {
        save_gate: Some(Arc::clone(&gate)),
        ..TestStore::default()
    });
    let tokio = two_workers();
    tokio.block_on(async {
        // One command in hand at a time (no batching, issue 15), so the counts are exact:
        // a batch would take however many were queued when the actor got to them.
        let runtime = Runtime::builder(store.clone())
            .mailbox_capacity(2_000)
            .max_batch(1)
            .build();
        let counter = runtime.actor::<Counter>("lossy");
        for _ in 0..1_000 {
            counter.tell(()).await.unwrap();
        }
        // The actor takes the first command into the (blocked) append.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store
            .save_events_calls
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            assert!(
                Instant::now() < deadline,
                "the first command never reached the store"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The end of `main`: the handles go, then the tokio runtime.
    });
    let queued = warnings.with_field("queued");
    assert_eq!(
        queued.len(),
        1,
        "one warning when the last handle went: {queued:?}"
    );
    assert_eq!(queued[0].0, "999", "{:?}", queued[0].1);
    assert!(message(&queued[0].1).contains("shutdown().await"));
    drop(tokio);
    let dropped = warnings.with_field("dropped");
    assert_eq!(
        dropped.len(),
        1,
        "one warning when the tasks were dropped: {dropped:?}"
    );
    let fields = &dropped[0].1;
    assert_eq!(dropped[0].0, "999", "{fields:?}");
    assert!(
        fields.iter().any(|(n, v)| n == "interrupted" && v == "1"),
        "the blocked append is counted as interrupted: {fields:?}"
    );
    assert!(message(fields).contains("999 commands were dropped undelivered"));
    let stored = futures::executor::block_on(store.inner.get_events("Counter|lossy", 1)).unwrap();
    assert!(stored.is_empty(), "the blocked append stored nothing");
}

/// With the tokio runtime still running, dropping every handle drains the mailboxes:
/// every told command is executed, then the actor tasks end and release the store.
#[test]
fn dropping_every_handle_drains_the_mailboxes_in_the_background() {
    let (warnings, _turn) = warnings();
    let store = Arc::new(TestStore::default());
    let tokio = two_workers();
    tokio.block_on(async {
        let runtime = roomy_runtime(&store);
        for actor in 0..10 {
            let counter = runtime.actor::<Counter>(format!("drained-{actor}"));
            for _ in 0..100 {
                counter.tell(()).await.unwrap();
            }
        }
        drop(runtime);
        // The runtime's last reference goes when its last actor task has ended.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Arc::strong_count(&store) > 1 {
            assert!(
                Instant::now() < deadline,
                "the actors did not drain and end after the handles were dropped"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for actor in 0..10 {
            let stored = store
                .inner
                .get_events(&format!("Counter|drained-{actor}"), 1)
                .await
                .unwrap();
            assert_eq!(stored.len(), 100, "actor {actor}");
        }
    });
    assert!(
        warnings.with_field("dropped").is_empty(),
        "nothing was lost, so nothing is reported lost"
    );
    assert_eq!(
        warnings.with_field("queued").len(),
        1,
        "the missing shutdown is reported"
    );
}
