//! One hot actor (issue 15) stopped in the middle of a batch: every command it had in
//! hand is reported interrupted, not one. (Alone in its test binary: it installs a
//! global tracing subscriber, `common::warnings`, because tokio drops tasks on its
//! worker threads.)

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_runtime::Runtime;
use common::warnings::{field, warnings};
use common::{Counter, TestStore};
use tokio::sync::Semaphore;

async fn wait_for_appends(store: &TestStore, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.save_events_calls.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "waited 10 s for append {n}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn a_task_dropped_in_a_batched_append_reports_every_command_in_hand() {
    let (warnings, _turn) = warnings();
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(TestStore {
        save_gate: Some(Arc::clone(&gate)),
        ..TestStore::default()
    });
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let runtime = Runtime::new(store.clone());
        let counter = runtime.actor::<Counter>("hot");
        // The first command alone in a held append, ten queued behind it.
        counter.tell(()).await.unwrap();
        wait_for_appends(&store, 1).await;
        for _ in 0..10 {
            counter.tell(()).await.unwrap();
        }
        // The first append goes through; the ten are taken together into the next,
        // which never finishes.
        gate.add_permits(1);
        wait_for_appends(&store, 2).await;
        // The end of `main` without `shutdown()`.
    });
    drop(tokio);
    let interrupted = warnings.with_field("interrupted");
    let (count, lost) = interrupted
        .first()
        .expect("a warning that counts what was lost");
    assert_eq!(count, "10", "{lost:?}");
    assert_eq!(field(lost, "dropped"), Some("0"), "{lost:?}");
}
