//! Projections of decoded events (`Decoded<T>`, the feed read with `visit_feed`) on the
//! in-memory store: the same read model as the owned projection; a decode error stops the
//! projection at that event, naming it, after committing the events before it, and
//! `skip_failed` goes on past it; a handler error on a decoded item names the event.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_core::testkit::cases::event;
use aether_core::{
    async_trait, AtLeastOnce, CheckpointStore, Event, EventFeed, EventRef, EventStore, FeedEvent,
    FeedFilter, HandlerError, InMemoryStore, Position, Projection,
};
use aether_runtime::projection::{
    self, Decoded, FeedDecode, ProjectionError, ProjectionHandle, ProjectionOptions,
    ProjectionPhase,
};
use serde_json::json;

/// How long a projection may take to reach the head or fail, in these tests: far above
/// what they need; only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it takes longer than [`DEADLINE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {DEADLINE:?}"))
}

/// The read model: each event's amount by (actor, version), how many times each event
/// was handled, and a poison switch.
#[derive(Clone, Default)]
struct Amounts {
    amounts: Arc<Mutex<BTreeMap<(String, i64), i64>>>,
    handled: Arc<Mutex<BTreeMap<(String, i64), u32>>>,
    /// Fail on this actor's event at this version while set.
    poison: Arc<Mutex<Option<(String, i64)>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("poisoned event")]
struct Poisoned;

impl Amounts {
    fn apply(&self, actor_id: &str, version: i64, amount: i64) -> Result<(), HandlerError> {
        let key = (actor_id.to_owned(), version);
        if self.poison.lock().unwrap().as_ref() == Some(&key) {
            return Err(Box::new(Poisoned));
        }
        *self.handled.lock().unwrap().entry(key.clone()).or_default() += 1;
        self.amounts.lock().unwrap().insert(key, amount);
        Ok(())
    }

    fn snapshot(&self) -> BTreeMap<(String, i64), i64> {
        self.amounts.lock().unwrap().clone()
    }

    /// The events handled more than once, with how many times.
    fn handled_again(&self) -> Vec<((String, i64), u32)> {
        let handled = self.handled.lock().unwrap();
        handled
            .iter()
            .filter(|(_, n)| **n != 1)
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }
}

/// The projection of owned events.
#[derive(Clone, Default)]
struct Owned(Amounts);

#[async_trait]
impl Projection for Owned {
    async fn handle(&mut self, e: &FeedEvent) -> Result<(), HandlerError> {
        let amount = e.event.data["amount"]
            .as_i64()
            .ok_or_else(|| format!("no amount in {}", e.event.data))?;
        self.0.apply(&e.event.actor_id, e.event.version, amount)
    }
}

/// What the decoded projection reads of an event.
#[derive(Debug, Clone, PartialEq)]
struct Movement {
    actor_id: String,
    version: i64,
    amount: i64,
}

impl FeedDecode for Movement {
    fn decode(event: &EventRef<'_>) -> Result<Self, HandlerError> {
        #[derive(serde::Deserialize)]
        struct Data {
            amount: i64,
        }
        let data: Data = event.data.decode()?;
        Ok(Movement {
            actor_id: event.actor_id.to_owned(),
            version: event.version,
            amount: data.amount,
        })
    }
}

/// The projection of decoded events.
#[derive(Clone, Default)]
struct Lent(Amounts);

/// Runs `lent` as the at-least-once projection `name` over `store`.
fn spawn_lent(
    name: &str,
    store: &Arc<InMemoryStore>,
    lent: &Lent,
    options: ProjectionOptions,
) -> ProjectionHandle<AtLeastOnce<Lent, Arc<InMemoryStore>>> {
    projection::spawn(
        name,
        store.clone(),
        AtLeastOnce::new(lent.clone(), store.clone()),
        options,
    )
}

#[async_trait]
impl Projection<Decoded<Movement>> for Lent {
    async fn handle(&mut self, e: &Decoded<Movement>) -> Result<(), HandlerError> {
        self.0
            .apply(&e.event.actor_id, e.event.version, e.event.amount)
    }
}

/// An event of `actor` at `version` with an amount derived from both.
fn movement(actor: &str, version: i64) -> Event {
    let mut e = event(actor, version);
    e.data = json!({ "amount": version * 10 + actor.len() as i64, "note": "x" });
    if version % 3 == 0 {
        e.event_type = "Withdrawn".to_owned();
    }
    e
}

/// Saves `actors`' events `versions`, one save per round of versions per actor.
async fn write(store: &InMemoryStore, actors: &[&str], versions: std::ops::RangeInclusive<i64>) {
    for v in versions {
        for actor in actors {
            store.save_event(&movement(actor, v)).await.unwrap();
        }
    }
}

/// The feed through `filter`, as `read_feed` gives it.
async fn feed(store: &InMemoryStore, filter: &FeedFilter) -> Vec<FeedEvent> {
    store
        .read_feed(Position::START, filter, usize::MAX)
        .await
        .unwrap()
        .events
}

/// What the model must hold for these events.
fn fold<'a>(events: impl IntoIterator<Item = &'a FeedEvent>) -> BTreeMap<(String, i64), i64> {
    events
        .into_iter()
        .map(|e| {
            let amount = e.event.data["amount"].as_i64().unwrap();
            ((e.event.actor_id.clone(), e.event.version), amount)
        })
        .collect()
}

fn fast() -> ProjectionOptions {
    ProjectionOptions::new()
        .batch_size(16)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

/// Checks a handler error names `expected` (position, actor, version, type, id) and
/// projection `name`; returns its source's message.
#[track_caller]
fn expect_names(err: &ProjectionError, name: &str, expected: &FeedEvent) -> String {
    let ProjectionError::Handler {
        projection,
        position,
        actor_id,
        version,
        event_type,
        event_id,
        source,
    } = err
    else {
        panic!("expected a handler error, got {err:?}");
    };
    assert_eq!(
        (
            projection.as_str(),
            *position,
            actor_id.as_str(),
            *version,
            event_type.as_str(),
            event_id.as_str()
        ),
        (
            name,
            expected.position,
            expected.event.actor_id.as_str(),
            expected.event.version,
            expected.event.event_type.as_str(),
            expected.event.id.as_str()
        ),
        "the error names the projection and the event: {err}"
    );
    source.to_string()
}

#[tokio::test]
async fn a_decoded_projection_reaches_the_read_model_of_the_owned_one() {
    let store = Arc::new(InMemoryStore::new());
    let actors = ["Account|a", "Account|bb", "Order|ccc", "Account|dddd"];
    write(&store, &actors, 1..=25).await;
    let (owned, lent) = (Owned::default(), Lent::default());
    let owned_run = projection::spawn(
        "owned",
        store.clone(),
        AtLeastOnce::new(owned.clone(), store.clone()),
        fast(),
    );
    let lent_run = spawn_lent("lent", &store, &lent, fast());
    within("owned to the head", owned_run.wait_for_head())
        .await
        .unwrap();
    within("decoded to the head", lent_run.wait_for_head())
        .await
        .unwrap();
    let expected = fold(&feed(&store, &FeedFilter::all()).await);
    assert_eq!(expected.len(), 100);
    assert_eq!(owned.0.snapshot(), expected, "the owned model");
    assert_eq!(
        lent.0.snapshot(),
        expected,
        "the decoded model is the owned one"
    );
    assert_eq!(lent.0.handled_again(), vec![], "each event handled once");

    // Live: new events reach both.
    write(&store, &["Account|live"], 1..=5).await;
    within("owned to the head", owned_run.wait_for_head())
        .await
        .unwrap();
    within("decoded to the head", lent_run.wait_for_head())
        .await
        .unwrap();
    let expected = fold(&feed(&store, &FeedFilter::all()).await);
    assert_eq!(lent.0.snapshot(), expected, "live events decoded too");
    assert_eq!(owned.0.snapshot(), expected);
    let status = lent_run.status();
    let head = store.feed_head().await.unwrap();
    assert_eq!(status.checkpoint, Some(head));
    assert_eq!(status.handled, 105);
    assert!(matches!(status.phase, ProjectionPhase::Live), "{status:?}");
    assert_eq!(store.load_checkpoint("lent").await.unwrap(), Some(head));
    owned_run.stop().await;
    lent_run.stop().await;

    // Through a filter: only its events; the checkpoint moves past the others.
    let filter = FeedFilter::all()
        .actor_type("Account")
        .event_type("Withdrawn");
    let filtered = Lent::default();
    let running = projection::spawn(
        "lent-filtered",
        store.clone(),
        AtLeastOnce::new(filtered.clone(), store.clone()),
        fast().batch_size(4).filter(filter.clone()),
    );
    within("filtered to the head", running.wait_for_head())
        .await
        .unwrap();
    let expected = fold(&feed(&store, &filter).await);
    assert!(!expected.is_empty());
    assert_eq!(
        filtered.0.snapshot(),
        expected,
        "the filtered decoded model"
    );
    assert_eq!(running.status().checkpoint, Some(head));
    running.stop().await;
}

#[tokio::test]
async fn a_decode_error_stops_at_the_event_naming_it_and_skip_failed_goes_past_it() {
    let store = Arc::new(InMemoryStore::new());
    let actors = ["Account|a", "Account|b"];
    write(&store, &actors, 1..=5).await;
    // The 11th event of the feed: a payload without the field the projection needs.
    let mut bad = movement("Account|b", 6);
    bad.data = json!({ "note": "no amount" });
    store.save_event(&bad).await.unwrap();
    write(&store, &["Account|a"], 6..=9).await;
    let all = feed(&store, &FeedFilter::all()).await;
    let at = all.iter().position(|e| e.event.id == bad.id).unwrap();
    assert_eq!(at, 10);

    let lent = Lent::default();
    // Pages of 4: the bad event is the 3rd of the third page.
    let running = spawn_lent("decode-fails", &store, &lent, fast().batch_size(4));
    let err = within("the projection fails", running.wait_for_head())
        .await
        .unwrap_err();
    let source = expect_names(&err, "decode-fails", &all[at]);
    assert!(
        source.contains("amount"),
        "the decode error says why: {source}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&bad.id) && message.contains("skip_failed()"),
        "{message}"
    );

    // Stopped there: the events before it committed (checkpoint the last of them), each
    // handled once; nothing after it handled.
    let status = running.status();
    assert!(
        matches!(status.phase, ProjectionPhase::Failed(_)),
        "{status:?}"
    );
    assert_eq!(status.checkpoint, Some(all[at - 1].position));
    assert_eq!(
        store.load_checkpoint("decode-fails").await.unwrap(),
        Some(all[at - 1].position),
        "the checkpoint saved is the event before the failed one"
    );
    assert_eq!(status.handled, at as u64);
    assert_eq!(lent.0.snapshot(), fold(&all[..at]), "the events before it");
    assert_eq!(lent.0.handled_again(), vec![], "each handled once");

    // Resuming does not help: the payload is what it is.
    running.resume().await.unwrap();
    let again = within("the projection fails again", running.wait_for_head())
        .await
        .unwrap_err();
    expect_names(&again, "decode-fails", &all[at]);
    assert_eq!(lent.0.handled_again(), vec![], "nothing handled twice");

    // Skipped: the projection goes on past it and handles everything after.
    let skipped = running.skip_failed().await.unwrap();
    assert_eq!(skipped, all[at].position);
    within("past the skipped event", running.wait_for_head())
        .await
        .unwrap();
    let rest: Vec<&FeedEvent> = all.iter().filter(|e| e.event.id != bad.id).collect();
    assert_eq!(
        lent.0.snapshot(),
        fold(rest),
        "every event but the skipped one"
    );
    assert_eq!(lent.0.handled_again(), vec![], "each handled once");
    let status = running.status();
    assert_eq!(status.checkpoint, all.last().map(|e| e.position));
    assert!(matches!(status.phase, ProjectionPhase::Live), "{status:?}");

    // And follows live events after it.
    write(&store, &["Account|b"], 7..=8).await;
    within("live after the skip", running.wait_for_head())
        .await
        .unwrap();
    let all = feed(&store, &FeedFilter::all()).await;
    let rest: Vec<&FeedEvent> = all.iter().filter(|e| e.event.id != bad.id).collect();
    assert_eq!(lent.0.snapshot(), fold(rest));
    running.stop().await;
}

#[tokio::test]
async fn a_handler_error_on_a_decoded_item_names_the_event() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, &["Account|a", "Order|o"], 1..=8).await;
    let all = feed(&store, &FeedFilter::all()).await;
    let lent = Lent::default();
    *lent.0.poison.lock().unwrap() = Some(("Order|o".into(), 5));
    let poisoned = all
        .iter()
        .position(|e| e.event.actor_id == "Order|o" && e.event.version == 5)
        .unwrap();
    let running = spawn_lent("handler-fails", &store, &lent, fast().batch_size(3));
    let err = within("the projection fails", running.wait_for_head())
        .await
        .unwrap_err();
    // A decoded item carries no id nor type: the runner read the event again.
    let source = expect_names(&err, "handler-fails", &all[poisoned]);
    assert_eq!(source, "poisoned event");
    let status = running.status();
    assert!(
        matches!(status.phase, ProjectionPhase::Failed(_)),
        "{status:?}"
    );
    assert!(status.checkpoint.is_none_or(|c| c < all[poisoned].position));
    assert!(!lent.0.snapshot().contains_key(&("Order|o".to_owned(), 5)));

    // Cured: resume handles it and the rest.
    *lent.0.poison.lock().unwrap() = None;
    running.resume().await.unwrap();
    within("resumed to the head", running.wait_for_head())
        .await
        .unwrap();
    assert_eq!(lent.0.snapshot(), fold(&all));
    running.stop().await;
}

#[tokio::test]
async fn a_handler_error_on_a_decoded_item_is_named_through_a_filter() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, &["Account|a", "Order|o"], 1..=8).await;
    let filter = FeedFilter::all().actor_type("Order");
    let orders = feed(&store, &filter).await;
    let lent = Lent::default();
    *lent.0.poison.lock().unwrap() = Some(("Order|o".into(), 5));
    let running = spawn_lent(
        "filtered-fails",
        &store,
        &lent,
        fast().batch_size(3).filter(filter.clone()),
    );
    let err = within("the projection fails", running.wait_for_head())
        .await
        .unwrap_err();
    expect_names(&err, "filtered-fails", &orders[4]);
    assert_eq!(
        running.status().checkpoint,
        Some(orders[2].position),
        "the batches before the failed one committed"
    );
    *lent.0.poison.lock().unwrap() = None;
    running.resume().await.unwrap();
    within("resumed to the head", running.wait_for_head())
        .await
        .unwrap();
    assert_eq!(lent.0.snapshot(), fold(&orders));
    running.stop().await;
}

/// The runner names the event of a failed decoded item by reading the batch again from
/// its start; a page that stepped over a skipped event held one more event than the batch
/// has items, and the last item must still be found and named.
#[tokio::test]
async fn a_handler_error_on_a_decoded_item_is_named_after_a_skip_in_its_page() {
    let store = Arc::new(InMemoryStore::new());
    write(&store, &["Order|o"], 1..=8).await;
    let orders = feed(&store, &FeedFilter::all()).await;
    let lent = Lent::default();
    *lent.0.poison.lock().unwrap() = Some(("Order|o".into(), 2));
    let running = spawn_lent("skip-then-fails", &store, &lent, fast().batch_size(3));
    let err = within("the projection fails", running.wait_for_head())
        .await
        .unwrap_err();
    expect_names(&err, "skip-then-fails", &orders[1]);

    // Skipped; then the last event of the page read with the skipped one fails: its batch
    // holds one item fewer than the page held events.
    *lent.0.poison.lock().unwrap() = Some(("Order|o".into(), 3));
    assert_eq!(running.skip_failed().await.unwrap(), orders[1].position);
    let err = within("the projection fails again", running.wait_for_head())
        .await
        .unwrap_err();
    expect_names(&err, "skip-then-fails", &orders[2]);
    *lent.0.poison.lock().unwrap() = None;
    running.resume().await.unwrap();
    within("resumed to the head", running.wait_for_head())
        .await
        .unwrap();
    let rest: Vec<&FeedEvent> = orders.iter().filter(|e| e.event.version != 2).collect();
    assert_eq!(lent.0.snapshot(), fold(rest));
    running.stop().await;
}
