//! One hot actor (issue 15) stopped in the middle of a batch: every command it had in
//! hand is reported interrupted, not one. (Alone in its test binary: it installs a
//! global tracing subscriber, because tokio drops tasks on its worker threads.)

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_runtime::Runtime;
use common::{Counter, TestStore};
use tokio::sync::Semaphore;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event's fields: `(name, value)`.
type Fields = Vec<(String, String)>;

/// Every `warn` event's fields.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<Fields>>>);

struct Visitor<'a>(&'a mut Fields);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }
}

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Vec::new();
            event.record(&mut Visitor(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

async fn wait_for_appends(store: &TestStore, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.save_events_calls.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "waited 10 s for append {n}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn a_task_dropped_in_a_batched_append_reports_every_command_in_hand() {
    let warnings = Warnings::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warnings.clone()))
        .unwrap();
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
    let warnings = warnings.0.lock().unwrap();
    let lost = warnings
        .iter()
        .find(|fields| fields.iter().any(|(n, _)| n == "interrupted"))
        .expect("a warning that counts what was lost");
    let field = |name: &str| {
        lost.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("interrupted"), Some("10"), "{lost:?}");
    assert_eq!(field("dropped"), Some("0"), "{lost:?}");
}
