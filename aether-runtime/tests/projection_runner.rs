//! The projection runner on the in-memory store: catch up, follow live, resume from the
//! checkpoint, stop on a handler error naming the event, resume or skip, reset one
//! projection while another runs, retry transient feed errors, filters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::testkit::cases::event;
use aether_core::{
    async_trait, AtLeastOnce, EventFeed, EventStore, FeedError, FeedEvent, FeedFilter, FeedPage,
    HandlerError, InMemoryStore, Position, Projection,
};
use aether_runtime::projection::{self, ProjectionError, ProjectionOptions, ProjectionPhase};

/// The read model: every event's id by (actor, version), and a poison switch.
#[derive(Clone, Default)]
struct Ledger {
    seen: Arc<Mutex<BTreeMap<(String, i64), String>>>,
    handled: Arc<AtomicU32>,
    /// Fail on this actor's event at this version while set.
    poison: Arc<Mutex<Option<(String, i64)>>>,
}

impl Ledger {
    fn snapshot(&self) -> BTreeMap<(String, i64), String> {
        self.seen.lock().unwrap().clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("poisoned event")]
struct Poisoned;

#[async_trait]
impl Projection for Ledger {
    async fn handle(&mut self, e: &FeedEvent) -> Result<(), HandlerError> {
        let key = (e.event.actor_id.clone(), e.event.version);
        if self.poison.lock().unwrap().as_ref() == Some(&key) {
            return Err(Box::new(Poisoned));
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().insert(key, e.event.id.clone());
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().clear();
        Ok(())
    }
}

/// What the model must hold: a fold of the whole feed (through `filter`).
async fn fold(store: &InMemoryStore, filter: &FeedFilter) -> BTreeMap<(String, i64), String> {
    let page = store
        .read_feed(Position::START, filter, usize::MAX)
        .await
        .unwrap();
    page.events
        .into_iter()
        .map(|e| ((e.event.actor_id, e.event.version), e.event.id))
        .collect()
}

async fn write(store: &InMemoryStore, actor: &str, versions: std::ops::RangeInclusive<i64>) {
    for v in versions {
        store.save_event(&event(actor, v)).await.unwrap();
    }
}

fn fast() -> ProjectionOptions {
    ProjectionOptions::new()
        .batch_size(16)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

#[tokio::test]
async fn catches_up_then_follows_live_then_resumes_from_its_checkpoint() {
    let store = Arc::new(InMemoryStore::new());
    for a in 0..10 {
        write(&store, &format!("Account|{a}"), 1..=50).await;
    }
    let ledger = Ledger::default();
    let sink = AtLeastOnce::new(ledger.clone(), store.clone());
    let running = projection::spawn("ledger", store.clone(), sink, fast());
    running.wait_for_head().await.unwrap();
    assert_eq!(ledger.snapshot(), fold(&store, &FeedFilter::all()).await);
    assert_eq!(ledger.snapshot().len(), 500);

    // Live: new events arrive without a restart.
    write(&store, "Account|live", 1..=7).await;
    running.wait_for_head().await.unwrap();
    assert_eq!(ledger.snapshot(), fold(&store, &FeedFilter::all()).await);
    let status = running.status();
    assert_eq!(status.checkpoint, Some(store.feed_head().await.unwrap()));
    assert_eq!(status.handled, 507);
    assert!(matches!(status.phase, ProjectionPhase::Live), "{status:?}");
    assert_eq!(status.lag, Some(0));

    // Stopped, then started again with an empty model: only what is new is handled.
    let (_, checkpoints) = running.stop().await.into_parts();
    write(&store, "Account|later", 1..=3).await;
    let fresh = Ledger::default();
    let running = projection::spawn(
        "ledger",
        store.clone(),
        AtLeastOnce::new(fresh.clone(), checkpoints),
        fast(),
    );
    running.wait_for_head().await.unwrap();
    assert_eq!(
        fresh.handled.load(Ordering::SeqCst),
        3,
        "resumed after its checkpoint"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_handler_error_stops_at_the_event_naming_it_then_resume_handles_it() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, "Account|a", 1..=10).await;
    let ledger = Ledger::default();
    *ledger.poison.lock().unwrap() = Some(("Account|a".into(), 6));
    let running = projection::spawn(
        "stops",
        store.clone(),
        AtLeastOnce::new(ledger.clone(), store.clone()),
        fast().batch_size(4),
    );
    let err = running.wait_for_head().await.unwrap_err();
    let ProjectionError::Handler {
        projection,
        actor_id,
        version,
        event_type,
        position,
        ..
    } = &err
    else {
        panic!("expected a handler error, got {err:?}");
    };
    assert_eq!(
        (projection.as_str(), actor_id.as_str(), *version),
        ("stops", "Account|a", 6)
    );
    assert_eq!(event_type, "Noted");
    let message = err.to_string();
    assert!(
        message.contains("\"stops\"")
            && message.contains("\"Account|a\" at version 6")
            && message.contains(&position.to_string())
            && message.contains("resume()"),
        "{message}"
    );
    // Stopped there: the checkpoint is before the failed event, nothing after is handled.
    let status = running.status();
    assert!(matches!(status.phase, ProjectionPhase::Failed(_)));
    assert!(status.checkpoint.is_none_or(|c| c < *position));
    assert!(!ledger.snapshot().contains_key(&("Account|a".to_owned(), 7)));

    // Fixed: resume handles it and the rest.
    *ledger.poison.lock().unwrap() = None;
    running.resume().await.unwrap();
    running.wait_for_head().await.unwrap();
    assert_eq!(ledger.snapshot(), fold(&store, &FeedFilter::all()).await);
    assert!(matches!(
        running.resume().await,
        Err(ProjectionError::NotFailed { .. })
    ));
    running.stop().await;
}

#[tokio::test]
async fn skip_failed_skips_only_the_failed_event() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, "Account|a", 1..=10).await;
    let ledger = Ledger::default();
    *ledger.poison.lock().unwrap() = Some(("Account|a".into(), 6));
    let running = projection::spawn(
        "skips",
        store.clone(),
        AtLeastOnce::new(ledger.clone(), store.clone()),
        fast().batch_size(4),
    );
    let err = running.wait_for_head().await.unwrap_err();
    let skipped = running.skip_failed().await.unwrap();
    assert_eq!(Some(skipped), err.position());
    running.wait_for_head().await.unwrap();
    let mut expected = fold(&store, &FeedFilter::all()).await;
    expected.remove(&("Account|a".to_owned(), 6));
    assert_eq!(
        ledger.snapshot(),
        expected,
        "every event but the skipped one"
    );
    running.stop().await;
}

#[tokio::test]
async fn reset_rebuilds_one_projection_while_another_keeps_running() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, "Account|a", 1..=40).await;
    let (one, two) = (Ledger::default(), Ledger::default());
    let first = projection::spawn(
        "one",
        store.clone(),
        AtLeastOnce::new(one.clone(), store.clone()),
        fast(),
    );
    let second = projection::spawn(
        "two",
        store.clone(),
        AtLeastOnce::new(two.clone(), store.clone()),
        fast(),
    );
    first.wait_for_head().await.unwrap();
    second.wait_for_head().await.unwrap();
    // Tamper with the first model, then rebuild it.
    one.seen
        .lock()
        .unwrap()
        .insert(("bogus".into(), 1), "x".into());
    first.reset().await.unwrap();
    first.wait_for_head().await.unwrap();
    assert_eq!(
        one.snapshot(),
        fold(&store, &FeedFilter::all()).await,
        "rebuilt"
    );
    assert_eq!(
        one.handled.load(Ordering::SeqCst),
        80,
        "handled twice in all"
    );
    assert_eq!(
        two.handled.load(Ordering::SeqCst),
        40,
        "the other was not touched"
    );
    write(&store, "Account|b", 1..=2).await;
    second.wait_for_head().await.unwrap();
    assert_eq!(two.snapshot(), fold(&store, &FeedFilter::all()).await);
    first.stop().await;
    second.stop().await;
}

/// A feed whose first reads fail as a backend would.
struct Flaky {
    inner: Arc<InMemoryStore>,
    failures_left: AtomicU32,
    failed: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("connection reset")]
struct Reset;

#[async_trait]
impl EventFeed for Flaky {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.failed.store(true, Ordering::SeqCst);
            return Err(FeedError::backend(after, Reset));
        }
        self.inner.read_feed(after, filter, limit).await
    }
    async fn feed_head(&self) -> Result<Position, FeedError> {
        self.inner.feed_head().await
    }
    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        self.inner.feed_lag(after).await
    }
    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        self.inner.wait_for_events(after).await
    }
}

#[tokio::test]
async fn transient_feed_errors_are_retried_and_shown_as_retrying() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, "Account|a", 1..=20).await;
    let flaky = Arc::new(Flaky {
        inner: store.clone(),
        failures_left: AtomicU32::new(3),
        failed: AtomicBool::new(false),
    });
    let ledger = Ledger::default();
    let running = projection::spawn(
        "flaky",
        flaky.clone(),
        AtLeastOnce::new(ledger.clone(), store.clone()),
        fast(),
    );
    let mut status = running.watch();
    let retrying = status
        .wait_for(|s| matches!(s.phase, ProjectionPhase::Retrying { .. }))
        .await
        .unwrap()
        .clone();
    let ProjectionPhase::Retrying { error, .. } = retrying.phase else {
        unreachable!()
    };
    assert!(error.to_string().contains("connection reset"), "{error}");
    running.wait_for_head().await.unwrap();
    assert!(flaky.failed.load(Ordering::SeqCst));
    assert_eq!(ledger.snapshot(), fold(&store, &FeedFilter::all()).await);
    running.stop().await;
}

#[tokio::test]
async fn a_filter_feeds_only_its_events_and_the_checkpoint_moves_past_the_others() {
    let store = Arc::new(InMemoryStore::new());
    for v in 1..=30 {
        store.save_event(&event("Account|a", v)).await.unwrap();
        store.save_event(&event("Order|o", v)).await.unwrap();
    }
    let filter = FeedFilter::all().actor_type("Order");
    let ledger = Ledger::default();
    let running = projection::spawn(
        "orders",
        store.clone(),
        AtLeastOnce::new(ledger.clone(), store.clone()),
        fast().filter(filter.clone()),
    );
    running.wait_for_head().await.unwrap();
    assert_eq!(ledger.snapshot(), fold(&store, &filter).await);
    assert_eq!(ledger.snapshot().len(), 30);
    assert_eq!(
        running.status().checkpoint,
        Some(store.feed_head().await.unwrap())
    );
    running.stop().await;
}
