//! The projection task: load the checkpoint, read a page, commit it, wait for more;
//! retry transient errors, stop on a handler error, obey the handle's requests.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventFeed, FeedError, FeedItem, ItemPage, Position, ProjectionSink};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use super::handle::{Control, HeadFn};
use super::{
    ProjectionError, ProjectionHandle, ProjectionOptions, ProjectionPhase, ProjectionStatus,
};

mod commit;
mod control;

use control::recv;

/// How often, at most, the lag is measured while catching up (it costs a count on some
/// stores).
const LAG_EVERY: Duration = Duration::from_secs(1);

pub(super) fn spawn<F, S, E>(
    name: String,
    feed: Arc<F>,
    sink: S,
    options: ProjectionOptions,
) -> ProjectionHandle<S>
where
    F: EventFeed + ?Sized,
    S: ProjectionSink<E>,
    E: FeedItem,
{
    let (status, status_rx) = watch::channel(ProjectionStatus {
        name: name.clone(),
        phase: ProjectionPhase::Starting,
        checkpoint: None,
        handled: 0,
        lag: None,
    });
    let (control_tx, control) = mpsc::unbounded_channel();
    let head_feed = Arc::clone(&feed);
    let head: HeadFn = Box::new(move || {
        let feed = Arc::clone(&head_feed);
        Box::pin(async move { feed.feed_head().await })
    });
    let span = tracing::info_span!("projection", name = %name);
    let runner = Runner {
        name: name.clone(),
        feed,
        sink,
        options,
        status,
        control: Some(control),
        position: Position::START,
        skip_row: None,
        skip_events: Vec::new(),
        lag_measured: None,
        ahead: None,
        items: PhantomData,
    };
    let task = tokio::spawn(runner.run().instrument(span));
    ProjectionHandle {
        name,
        status: status_rx,
        control: control_tx,
        task,
        head,
    }
}

/// What the loop does next.
enum Flow {
    /// Go on reading.
    Next,
    /// Load the checkpoint again and go on from there (after a reset, resume or skip).
    Restart,
    /// Stop on this error until the handle says what to do.
    Fail(ProjectionError),
    /// End the task.
    Stop,
}

struct Runner<F: ?Sized, S, E> {
    name: String,
    feed: Arc<F>,
    sink: S,
    options: ProjectionOptions,
    status: watch::Sender<ProjectionStatus>,
    /// `None` once the handle is gone.
    control: Option<mpsc::UnboundedReceiver<Control>>,
    position: Position,
    /// A row the feed cannot decode, to step over as asked (`skip_failed`): read one
    /// event at a time up to it, then move the checkpoint past it.
    skip_row: Option<Position>,
    /// Events a handler (or decoder) failed on, to step over as asked, until the
    /// checkpoint is past them. Several when a batch fails again after a skip.
    skip_events: Vec<Position>,
    lag_measured: Option<Instant>,
    /// The page after a position, read while the batch before it committed.
    ahead: Option<(Position, Result<ItemPage<E>, FeedError>)>,
    /// What the sink commits: the owned feed event, or the projection's decoded type.
    items: PhantomData<fn() -> E>,
}

impl<F: EventFeed + ?Sized, S: ProjectionSink<E>, E: FeedItem> Runner<F, S, E> {
    async fn run(mut self) -> S {
        'life: loop {
            let mut flow = self.load_checkpoint().await;
            loop {
                match flow {
                    Flow::Next => flow = self.step().await,
                    Flow::Restart => continue 'life,
                    Flow::Stop => break 'life,
                    Flow::Fail(err) => flow = self.failed(err).await,
                }
            }
        }
        self.set_phase(ProjectionPhase::Stopped);
        tracing::debug!("projection stopped");
        self.sink
    }

    fn set_phase(&self, phase: ProjectionPhase) {
        self.status.send_modify(|s| s.phase = phase);
    }

    async fn load_checkpoint(&mut self) -> Flow {
        self.set_phase(ProjectionPhase::Starting);
        self.ahead = None;
        let mut attempts = 0;
        loop {
            match self.sink.checkpoint(&self.name).await {
                Ok(checkpoint) => {
                    self.position = checkpoint.unwrap_or(Position::START);
                    self.status.send_modify(|s| {
                        s.checkpoint = checkpoint;
                        s.phase = ProjectionPhase::CatchingUp;
                    });
                    tracing::debug!(checkpoint = %self.position, "projection starting");
                    return Flow::Next;
                }
                Err(err) if err.is_transient() => {
                    attempts += 1;
                    if let Some(flow) = self.backoff(err, attempts).await {
                        return flow;
                    }
                }
                Err(source) => {
                    return Flow::Fail(ProjectionError::Feed {
                        projection: self.name.clone(),
                        source,
                    })
                }
            }
        }
    }

    /// One page: read, commit, or wait for events when there are none.
    async fn step(&mut self) -> Flow {
        let skipping_row = self.skip_row;
        let limit = if skipping_row.is_some() {
            1
        } else {
            self.options.batch_size
        };
        let mut attempts = 0;
        // A page read ahead while the previous batch committed, if it starts here.
        let mut ahead = self
            .ahead
            .take()
            .filter(|(after, _)| {
                *after == self.position && skipping_row.is_none() && self.skip_events.is_empty()
            })
            .map(|(_, page)| page);
        let page = loop {
            let read = match ahead.take() {
                Some(read) => read,
                None => {
                    E::read_items(
                        &*self.feed,
                        self.position,
                        &self.options.filter,
                        limit,
                        &self.skip_events,
                    )
                    .await
                }
            };
            match read {
                Ok(page) => break page,
                Err(FeedError::Serialization { position, .. })
                    if skipping_row == Some(position) =>
                {
                    return self.skip_row(position).await;
                }
                Err(err) if err.is_transient() => {
                    attempts += 1;
                    if let Some(flow) = self.backoff(err, attempts).await {
                        return flow;
                    }
                }
                Err(source) => {
                    return Flow::Fail(ProjectionError::Feed {
                        projection: self.name.clone(),
                        source,
                    })
                }
            }
        };
        let ItemPage {
            items,
            next,
            skipped,
            failed,
        } = page;
        if items.is_empty() && skipped.is_empty() && failed.is_none() && next <= self.position {
            return self.wait_for_events().await;
        }
        let full = items.len() + skipped.len() >= limit;
        for skipped in &skipped {
            tracing::warn!(
                position = %skipped.position,
                actor_id = %skipped.actor_id,
                version = skipped.version,
                "skipping the event the projection failed on, as asked"
            );
        }
        if skipping_row.is_some_and(|row| next >= row) {
            // The row read fine this time: nothing to step over.
            self.skip_row = None;
        }
        // Shared, not copied, with a sink that commits on another thread.
        let events: Arc<[E]> = items.into();
        if let Some((identity, source)) = failed {
            // The event after `next` failed to decode: commit what came before it, then
            // stop there as on a handler error.
            if next > self.position {
                if let Some(flow) = self.commit(events, next).await {
                    return flow;
                }
            }
            return Flow::Fail(self.handler_failed(identity, source));
        }
        let nothing_to_skip =
            self.skip_row.is_none() && self.skip_events.iter().all(|p| *p <= next);
        let committed = if full && nothing_to_skip {
            // Catching up: read the next page while this batch commits (the sink's
            // transaction or checkpoint write), so reading and handling overlap.
            let feed = Arc::clone(&self.feed);
            let filter = self.options.filter.clone();
            let read_ahead = async move { E::read_items(&*feed, next, &filter, limit, &[]).await };
            let (committed, read) = tokio::join!(self.commit(events, next), read_ahead);
            if committed.is_none() {
                self.ahead = Some((next, read));
            }
            committed
        } else {
            self.commit(events, next).await
        };
        if let Some(flow) = committed {
            return flow;
        }
        self.set_phase(if full {
            ProjectionPhase::CatchingUp
        } else {
            ProjectionPhase::Live
        });
        if self.lag_measured.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
            self.measure_lag().await;
        }
        Flow::Next
    }

    async fn measure_lag(&mut self) {
        self.lag_measured = Some(Instant::now());
        match self.feed.feed_lag(self.position).await {
            Ok(lag) => {
                crate::obs::projection_lag(&self.name, lag);
                self.status.send_modify(|s| s.lag = Some(lag));
            }
            Err(err) => tracing::debug!(%err, "measuring the projection's lag"),
        }
    }

    /// Caught up: waits for new events or a request.
    async fn wait_for_events(&mut self) -> Flow {
        if !matches!(self.status.borrow().phase, ProjectionPhase::Live) {
            self.set_phase(ProjectionPhase::Live);
        }
        if self.status.borrow().lag != Some(0) {
            self.measure_lag().await;
        }
        let feed = Arc::clone(&self.feed);
        let waiting = feed.wait_for_events(self.position);
        tokio::pin!(waiting);
        loop {
            tokio::select! {
                woke = &mut waiting => {
                    return match woke {
                        Ok(()) => Flow::Next,
                        Err(err) => {
                            // A failed wait is a failed read to come: back off once.
                            self.backoff(err, 1).await.unwrap_or(Flow::Next)
                        }
                    };
                }
                request = recv(&mut self.control) => {
                    match request {
                        Some(request) => {
                            if let Some(flow) = self.running_request(request).await {
                                return flow;
                            }
                        }
                        None => self.control = None,
                    }
                }
            }
        }
    }
}
