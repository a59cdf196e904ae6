//! Time limits of the conformance suite: [`DeadlineStore`] bounds every store call of a
//! case, [`run_case`] bounds the whole case, so a store that hangs fails the case with a
//! message instead of hanging the test run.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    ActorSnapshot, CheckpointStore, Event, EventFeed, EventStore, FeedError, FeedFilter, FeedPage,
    FeedVisitor, Position, SnapshotStore, StoreError, VisitedPage,
};

/// How long one store call of a conformance case may take before the case fails: 60 s,
/// far above what any call of a working store takes, even on a loaded CI machine.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a whole conformance case may take, making its store included, before it
/// fails: 5 minutes. The backstop for a wait that is not a store call.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs one conformance case, failing it (with a panic naming the case) if it does not
/// finish within [`CASE_TIMEOUT`].
///
/// The conformance macros run every case through it; call it yourself when you run the
/// [`cases`](super::cases) from your own harness.
///
/// # Panics
///
/// When `body` panics (the case failed) or does not finish in time.
pub async fn run_case(case: &str, body: impl Future<Output = ()>) {
    run_case_within(case, CASE_TIMEOUT, body).await;
}

async fn run_case_within(case: &str, limit: Duration, body: impl Future<Output = ()>) {
    if tokio::time::timeout(limit, body).await.is_err() {
        panic!(
            "conformance case `{case}` did not finish within {limit:?}; the store or a \
             task of the case hangs"
        );
    }
}

/// A store wrapper that fails the running conformance case when a call of the wrapped
/// store does not return within a time limit ([`OPERATION_TIMEOUT`] by default).
///
/// It forwards every method of [`EventStore`] and [`SnapshotStore`] unchanged (so a
/// store's own `save_event` or `append_events` is what runs), and panics with a message
/// naming the case, the operation, the actor and the version when the call takes too
/// long. The conformance macros wrap each case's store in one.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use aether_core::testkit::{cases, run_case, DeadlineStore};
/// use aether_core::InMemoryStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// run_case("gaps_are_allowed", async {
///     let store = DeadlineStore::new("gaps_are_allowed", InMemoryStore::new());
///     cases::gaps_are_allowed(Arc::new(store)).await;
/// })
/// .await;
/// # });
/// ```
pub struct DeadlineStore<S> {
    inner: S,
    case: &'static str,
    limit: Duration,
}

impl<S> DeadlineStore<S> {
    /// Wraps `inner` for the case named `case`, with the limit [`OPERATION_TIMEOUT`].
    pub fn new(case: &'static str, inner: S) -> Self {
        DeadlineStore {
            inner,
            case,
            limit: OPERATION_TIMEOUT,
        }
    }

    /// The same wrapper with another limit per call.
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn bounded<T>(
        &self,
        op: &str,
        actor_id: &str,
        version: i64,
        call: impl Future<Output = T>,
    ) -> T {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => panic!(
                "conformance case `{}`: {op} of actor {actor_id:?} at version {version} did \
                 not return within {:?}",
                self.case, self.limit
            ),
        }
    }
}

impl<S> fmt::Debug for DeadlineStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineStore")
            .field("case", &self.case)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

fn first(events: &[Event]) -> (&str, i64) {
    events
        .first()
        .map_or(("", 0), |e| (e.actor_id.as_str(), e.version))
}

#[async_trait]
impl<S: EventStore> EventStore for DeadlineStore<S> {
    async fn save_event(&self, event: &Event) -> Result<(), StoreError> {
        let call = self.inner.save_event(event);
        self.bounded("save_event", &event.actor_id, event.version, call)
            .await
    }

    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let (actor_id, version) = first(events);
        let call = self.inner.save_events(events);
        self.bounded("save_events", actor_id, version, call).await
    }

    async fn append_events(&self, events: Vec<Event>) -> Result<(), StoreError> {
        let (actor_id, version) = first(&events);
        let (actor_id, version) = (actor_id.to_owned(), version);
        let call = self.inner.append_events(events);
        self.bounded("append_events", &actor_id, version, call)
            .await
    }

    async fn get_events(
        &self,
        actor_id: &str,
        from_version: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let call = self.inner.get_events(actor_id, from_version);
        self.bounded("get_events", actor_id, from_version, call)
            .await
    }

    async fn replay_events(
        &self,
        actor_id: &str,
        from_version: i64,
        visit: &mut (dyn for<'e> FnMut(crate::EventRef<'e>) -> std::ops::ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        let call = self.inner.replay_events(actor_id, from_version, visit);
        self.bounded("replay_events", actor_id, from_version, call)
            .await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        let call = self.inner.get_latest_version(actor_id);
        self.bounded("get_latest_version", actor_id, 0, call).await
    }
}

#[async_trait]
impl<S: SnapshotStore> SnapshotStore for DeadlineStore<S> {
    async fn get_latest_snapshot(
        &self,
        actor_id: &str,
    ) -> Result<Option<ActorSnapshot>, StoreError> {
        let call = self.inner.get_latest_snapshot(actor_id);
        self.bounded("get_latest_snapshot", actor_id, 0, call).await
    }

    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        let call = self.inner.save_snapshot(snapshot);
        self.bounded("save_snapshot", &snapshot.actor_id, snapshot.version, call)
            .await
    }
}

#[async_trait]
impl<S: EventFeed> EventFeed for DeadlineStore<S> {
    async fn read_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        let call = self.inner.read_feed(after, filter, limit);
        self.bounded_feed("read_feed", after, call).await
    }

    async fn feed_head(&self) -> Result<Position, FeedError> {
        let call = self.inner.feed_head();
        self.bounded_feed("feed_head", Position::START, call).await
    }

    async fn feed_lag(&self, after: Position) -> Result<u64, FeedError> {
        let call = self.inner.feed_lag(after);
        self.bounded_feed("feed_lag", after, call).await
    }

    async fn wait_for_events(&self, after: Position) -> Result<(), FeedError> {
        let call = self.inner.wait_for_events(after);
        self.bounded_feed("wait_for_events", after, call).await
    }

    async fn visit_feed(
        &self,
        after: Position,
        filter: &FeedFilter,
        limit: usize,
        visitor: Box<dyn FeedVisitor>,
    ) -> Result<VisitedPage, FeedError> {
        let call = self.inner.visit_feed(after, filter, limit, visitor);
        self.bounded_feed("visit_feed", after, call).await
    }
}

#[async_trait]
impl<S: CheckpointStore> CheckpointStore for DeadlineStore<S> {
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Position>, FeedError> {
        let call = self.inner.load_checkpoint(projection);
        self.bounded_checkpoint("load_checkpoint", projection, call)
            .await
    }

    async fn save_checkpoint(&self, projection: &str, position: Position) -> Result<(), FeedError> {
        let call = self.inner.save_checkpoint(projection, position);
        self.bounded_checkpoint("save_checkpoint", projection, call)
            .await
    }

    async fn delete_checkpoint(&self, projection: &str) -> Result<(), FeedError> {
        let call = self.inner.delete_checkpoint(projection);
        self.bounded_checkpoint("delete_checkpoint", projection, call)
            .await
    }
}

impl<S> DeadlineStore<S> {
    async fn bounded_feed<T>(&self, op: &str, after: Position, call: impl Future<Output = T>) -> T {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => panic!(
                "conformance case `{}`: {op} after feed position {after} did not return \
                 within {:?}",
                self.case, self.limit
            ),
        }
    }

    async fn bounded_checkpoint<T>(
        &self,
        op: &str,
        projection: &str,
        call: impl Future<Output = T>,
    ) -> T {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => panic!(
                "conformance case `{}`: {op} of projection {projection:?} did not return \
                 within {:?}",
                self.case, self.limit
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose every call never returns.
    struct Stuck;

    #[async_trait]
    impl EventStore for Stuck {
        async fn save_events(&self, _: &[Event]) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn get_events(&self, _: &str, _: i64) -> Result<Vec<Event>, StoreError> {
            std::future::pending().await
        }
        async fn get_latest_version(&self, _: &str) -> Result<i64, StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_call_that_never_returns_fails_naming_case_operation_and_version() {
        let store = DeadlineStore::new("some_case", Stuck).with_limit(Duration::from_millis(20));
        let event = super::super::cases::event("acct-7", 3);
        let panicked = tokio::spawn(async move { store.save_event(&event).await })
            .await
            .expect_err("the stuck call panics");
        let payload = panicked.into_panic();
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            message.contains("conformance case `some_case`")
                && message.contains("save_event of actor \"acct-7\" at version 3")
                && message.contains("20ms"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_case_that_never_finishes_fails_naming_it() {
        let limit = Duration::from_millis(20);
        let case = run_case_within("hung_case", limit, std::future::pending());
        let panicked = tokio::spawn(case).await.expect_err("the hung case panics");
        let payload = panicked.into_panic();
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            message.contains("conformance case `hung_case` did not finish"),
            "{message}"
        );
    }
}
