//! [`ProjectionHandle`]: a running projection's status and controls.

use std::fmt;

use aether_core::{FeedError, Position};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::ProjectionError;

/// Where a projection is in its life.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProjectionPhase {
    /// Loading its checkpoint.
    Starting,
    /// Reading events already stored.
    CatchingUp,
    /// Caught up; waiting for new events.
    Live,
    /// A transient error (the feed's or the checkpoint's backend); trying again after a
    /// backoff.
    Retrying {
        /// The last error.
        error: FeedError,
        /// Failed attempts in a row so far.
        attempts: u32,
    },
    /// Stopped on an error; waiting for [`resume`](ProjectionHandle::resume),
    /// [`skip_failed`](ProjectionHandle::skip_failed) or
    /// [`reset`](ProjectionHandle::reset).
    Failed(ProjectionError),
    /// The task has ended.
    Stopped,
}

/// A snapshot of a projection's progress.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// Where it is in its life.
    pub phase: ProjectionPhase,
    /// The position of the last event handled (`None`: none yet).
    pub checkpoint: Option<Position>,
    /// Events handed to the handler since the task started (a batch handled again after
    /// a retry counts again).
    pub handled: u64,
    /// Events of the feed after the checkpoint, as last measured (after each batch and
    /// when going live); `None` before the first measure. Counts every event of the feed,
    /// whatever the projection's filter.
    pub lag: Option<u64>,
}

pub(super) enum Control {
    Resume(oneshot::Sender<Result<(), ProjectionError>>),
    SkipFailed(oneshot::Sender<Result<Position, ProjectionError>>),
    Reset(oneshot::Sender<Result<(), ProjectionError>>),
    Stop,
}

pub(super) type HeadFn =
    Box<dyn Fn() -> BoxFuture<'static, Result<Position, FeedError>> + Send + Sync>;

/// A running projection, returned by [`spawn`](super::spawn): its status, and the
/// requests that resume, skip, rebuild or stop it.
///
/// Dropping the handle does not stop the projection; [`stop`](Self::stop) does.
pub struct ProjectionHandle<S> {
    pub(super) name: String,
    pub(super) status: watch::Receiver<ProjectionStatus>,
    pub(super) control: mpsc::UnboundedSender<Control>,
    pub(super) task: JoinHandle<S>,
    pub(super) head: HeadFn,
}

impl<S> fmt::Debug for ProjectionHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionHandle")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl<S> ProjectionHandle<S> {
    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its progress now.
    pub fn status(&self) -> ProjectionStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of the status, for dashboards and tests.
    pub fn watch(&self) -> watch::Receiver<ProjectionStatus> {
        self.status.clone()
    }

    fn not_running(&self) -> ProjectionError {
        ProjectionError::NotRunning {
            projection: self.name.clone(),
        }
    }

    /// Waits until the projection has handled every event up to `position` (its
    /// checkpoint is at or past it).
    ///
    /// # Errors
    ///
    /// The projection's error if it fails first ([`ProjectionPhase::Failed`]), or
    /// [`ProjectionError::NotRunning`] if its task ends first.
    pub async fn wait_for(&self, position: Position) -> Result<(), ProjectionError> {
        let mut status = self.status.clone();
        let result = status
            .wait_for(|s| {
                s.checkpoint.is_some_and(|c| c >= position)
                    || position == Position::START
                    || matches!(
                        s.phase,
                        ProjectionPhase::Failed(_) | ProjectionPhase::Stopped
                    )
            })
            .await;
        let Ok(status) = result else {
            return Err(self.not_running());
        };
        if status.checkpoint.is_some_and(|c| c >= position) || position == Position::START {
            return Ok(());
        }
        match &status.phase {
            ProjectionPhase::Failed(err) => Err(err.clone()),
            _ => Err(self.not_running()),
        }
    }

    /// Waits until the projection has handled every event stored when this is called
    /// (the feed's head at the call).
    ///
    /// # Errors
    ///
    /// As [`wait_for`](Self::wait_for); a transient error reading the head is retried.
    pub async fn wait_for_head(&self) -> Result<(), ProjectionError> {
        let head = loop {
            match (self.head)().await {
                Ok(head) => break head,
                Err(err) if err.is_transient() => {
                    tracing::debug!(projection = %self.name, %err, "reading the feed head; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(source) => {
                    return Err(ProjectionError::Feed {
                        projection: self.name.clone(),
                        source,
                    })
                }
            }
        };
        self.wait_for(head).await
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ProjectionError>>) -> Control,
    ) -> Result<T, ProjectionError> {
        let (reply, answer) = oneshot::channel();
        self.control
            .send(make(reply))
            .map_err(|_| self.not_running())?;
        answer.await.map_err(|_| self.not_running())?
    }

    /// Restarts a failed projection from its checkpoint: the failed batch is handled
    /// again. Use it once the cause is fixed (a database back, a bug fixed by a deploy).
    ///
    /// # Errors
    ///
    /// [`ProjectionError::NotFailed`] if the projection is not stopped on an error;
    /// [`ProjectionError::NotRunning`] if its task has ended.
    pub async fn resume(&self) -> Result<(), ProjectionError> {
        self.request(Control::Resume).await
    }

    /// Restarts a failed projection past the event it failed on: that event is never
    /// handled; the events before it in its batch are. Returns the skipped position.
    /// Logged with `warn!`: skipping is a decision, never a default.
    ///
    /// # Errors
    ///
    /// [`ProjectionError::NotFailed`] if the projection is not stopped on an error that
    /// names an event; [`ProjectionError::NotRunning`] if its task has ended.
    pub async fn skip_failed(&self) -> Result<Position, ProjectionError> {
        self.request(Control::SkipFailed).await
    }

    /// Rebuilds the projection from scratch: empties its read model
    /// ([`Projection::reset`](aether_core::Projection::reset)), forgets its checkpoint, and
    /// catches up from the start of the feed. Works in any phase, a failed one included;
    /// other projections are not affected. Returns once the reset is done (not the
    /// rebuild: [`wait_for_head`](Self::wait_for_head) waits for that).
    ///
    /// # Errors
    ///
    /// [`ProjectionError::Reset`] if emptying the read model fails (the projection is
    /// then failed, with the checkpoint kept); [`ProjectionError::NotRunning`].
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        self.request(Control::Reset).await
    }

    /// Stops the projection after the batch in progress, and gives the sink back (with
    /// it the read model, for in-memory ones).
    ///
    /// # Panics
    ///
    /// If the projection's task panicked (a handler panic), the panic is resumed here.
    pub async fn stop(self) -> S {
        let _ = self.control.send(Control::Stop);
        match self.task.await {
            Ok(sink) => sink,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("projection {:?}: its task was cancelled: {err}", self.name),
        }
    }
}
