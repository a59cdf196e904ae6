//! What the projection task does with the handle's requests: while running (between
//! pages, waiting for events, backing off after a transient error) and once stopped on an
//! error.

use std::sync::Arc;

use aether_core::{EventFeed, FeedError, FeedItem, ProjectionSink, SinkError};
use tokio::sync::{mpsc, oneshot};

use super::{Flow, Runner};
use crate::projection::handle::Control;
use crate::projection::{ProjectionError, ProjectionPhase};

impl<F: EventFeed + ?Sized, S: ProjectionSink<E>, E: FeedItem> Runner<F, S, E> {
    /// Waits out a backoff after a transient error, serving requests meanwhile. `None`
    /// when it is time to try again.
    pub(super) async fn backoff(&mut self, error: FeedError, attempts: u32) -> Option<Flow> {
        let shift = attempts.saturating_sub(1).min(16);
        let delay = self
            .options
            .backoff_min
            .saturating_mul(1 << shift)
            .min(self.options.backoff_max);
        tracing::warn!(%error, attempts, ?delay, "projection: transient error, retrying");
        self.set_phase(ProjectionPhase::Retrying { error, attempts });
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return None,
                request = recv(&mut self.control) => {
                    match request {
                        Some(request) => {
                            if let Some(flow) = self.running_request(request).await {
                                return Some(flow);
                            }
                        }
                        None => self.control = None,
                    }
                }
            }
        }
    }

    /// A request while the projection is not failed. `Some` when it changes the flow.
    pub(super) async fn running_request(&mut self, request: Control) -> Option<Flow> {
        match request {
            Control::Stop => Some(Flow::Stop),
            Control::Reset(reply) => Some(self.reset(reply).await),
            Control::Resume(reply) => {
                let _ = reply.send(Err(self.not_failed("resume")));
                None
            }
            Control::SkipFailed(reply) => {
                let _ = reply.send(Err(self.not_failed("skip")));
                None
            }
        }
    }

    fn not_failed(&self, request: &'static str) -> ProjectionError {
        ProjectionError::NotFailed {
            projection: self.name.clone(),
            request,
        }
    }

    async fn reset(&mut self, reply: oneshot::Sender<Result<(), ProjectionError>>) -> Flow {
        tracing::info!("resetting the projection: emptying its read model, from the start");
        match self.sink.reset(&self.name).await {
            Ok(()) => {
                self.skip_row = None;
                self.skip_events.clear();
                self.status.send_modify(|s| {
                    s.checkpoint = None;
                    s.lag = None;
                });
                let _ = reply.send(Ok(()));
                Flow::Restart
            }
            Err(err) => {
                let err = match err {
                    SinkError::Reset { source } => ProjectionError::Reset {
                        projection: self.name.clone(),
                        source: Arc::from(source),
                    },
                    other => self.sink_error(other),
                };
                let _ = reply.send(Err(err.clone()));
                Flow::Fail(err)
            }
        }
    }

    /// Stopped on an error: waits for the handle to say what to do.
    pub(super) async fn failed(&mut self, err: ProjectionError) -> Flow {
        tracing::error!(error = %err, "projection stopped on an error");
        self.set_phase(ProjectionPhase::Failed(err.clone()));
        loop {
            // With no handle left to resume it, the task ends.
            let Some(control) = self.control.as_mut() else {
                return Flow::Stop;
            };
            let Some(request) = control.recv().await else {
                self.control = None;
                return Flow::Stop;
            };
            match request {
                Control::Stop => return Flow::Stop,
                Control::Reset(reply) => return self.reset(reply).await,
                Control::Resume(reply) => {
                    let _ = reply.send(Ok(()));
                    return Flow::Restart;
                }
                Control::SkipFailed(reply) => match err.position() {
                    Some(position) => {
                        if matches!(err, ProjectionError::Feed { .. }) {
                            self.skip_row = Some(position);
                        } else if !self.skip_events.contains(&position) {
                            self.skip_events.push(position);
                        }
                        let _ = reply.send(Ok(position));
                        return Flow::Restart;
                    }
                    None => {
                        let _ = reply.send(Err(self.not_failed("skip (the error names no event)")));
                    }
                },
            }
        }
    }
}

/// The next request, or never once the handle is gone.
pub(super) async fn recv(
    control: &mut Option<mpsc::UnboundedReceiver<Control>>,
) -> Option<Control> {
    match control {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
