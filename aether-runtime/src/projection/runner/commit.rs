//! Committing a batch to the sink (retrying transient errors), stepping over an
//! undecodable row, and naming the event a handler or a decoder failed on.

use std::sync::Arc;

use aether_core::{
    EventFeed, EventIdentity, FeedFilter, FeedItem, HandlerError, Position, ProjectionSink,
    SinkError,
};

use super::{Flow, Runner};
use crate::projection::ProjectionError;

impl<F: EventFeed + ?Sized, S: ProjectionSink<E>, E: FeedItem> Runner<F, S, E> {
    /// Commits a batch, retrying transient errors. `None` when it is done.
    pub(super) async fn commit(&mut self, events: Arc<[E]>, to: Position) -> Option<Flow> {
        let mut attempts = 0;
        loop {
            match self
                .sink
                .commit_shared(&self.name, Arc::clone(&events), to)
                .await
            {
                Ok(()) => {
                    self.position = to;
                    // Stepped over for good once the checkpoint is past them.
                    self.skip_events.retain(|skip| *skip > to);
                    let n = events.len() as u64;
                    crate::obs::projection_events(&self.name, n);
                    self.status.send_modify(|s| {
                        s.checkpoint = Some(to);
                        s.handled += n;
                    });
                    return None;
                }
                Err(SinkError::Handler { position, source }) => {
                    let identity = identify(
                        &*self.feed,
                        &self.options.filter,
                        self.position,
                        &events,
                        position,
                    )
                    .await;
                    return Some(Flow::Fail(self.handler_failed(identity, source)));
                }
                Err(SinkError::Store(err)) if err.is_transient() => {
                    attempts += 1;
                    if let Some(flow) = self.backoff(err, attempts).await {
                        return Some(flow);
                    }
                }
                Err(SinkError::Store(source)) => {
                    return Some(Flow::Fail(ProjectionError::Feed {
                        projection: self.name.clone(),
                        source,
                    }))
                }
                Err(other) => return Some(Flow::Fail(self.sink_error(other))),
            }
        }
    }

    pub(super) fn handler_failed(
        &self,
        identity: EventIdentity,
        source: HandlerError,
    ) -> ProjectionError {
        ProjectionError::Handler {
            projection: self.name.clone(),
            position: identity.position,
            actor_id: identity.actor_id,
            version: identity.version,
            event_type: identity.event_type,
            event_id: identity.event_id,
            source: Arc::from(source),
        }
    }

    /// Steps over a row the feed cannot decode, as asked by `skip_failed`.
    pub(super) async fn skip_row(&mut self, position: Position) -> Flow {
        tracing::warn!(%position, "skipping an undecodable feed row, as asked");
        let mut attempts = 0;
        loop {
            match self.sink.skip_to(&self.name, position).await {
                Ok(()) => {
                    self.position = position;
                    self.skip_row = None;
                    self.skip_events.retain(|skip| *skip > position);
                    self.status.send_modify(|s| s.checkpoint = Some(position));
                    return Flow::Next;
                }
                Err(SinkError::Store(err)) if err.is_transient() => {
                    attempts += 1;
                    if let Some(flow) = self.backoff(err, attempts).await {
                        return flow;
                    }
                }
                Err(err) => return Flow::Fail(self.sink_error(err)),
            }
        }
    }

    pub(super) fn sink_error(&self, err: SinkError) -> ProjectionError {
        ProjectionError::Sink {
            projection: self.name.clone(),
            source: Arc::new(err),
        }
    }
}

/// Who the event at `position` of a batch that started after `from` is: from
/// the item when it carries it, else read again from the feed (a decoded item keeps
/// only what its projection needs). Only the position, if even that read fails.
async fn identify<F: EventFeed + ?Sized, E: FeedItem>(
    feed: &F,
    filter: &FeedFilter,
    from: Position,
    events: &[E],
    position: Position,
) -> EventIdentity {
    let item = events.iter().find(|e| e.position() == position);
    if let Some(identity) = item.and_then(FeedItem::identity) {
        return identity;
    }
    // The batch's page may have held more events than the batch has items (one stepped
    // over by `skip_failed`): read on until past `position`, a few pages at most.
    let mut after = from;
    let mut found = None;
    for _ in 0..4 {
        let Ok(page) = feed.read_feed(after, filter, events.len() + 1).await else {
            break;
        };
        if let Some(e) = page.events.iter().find(|e| e.position == position) {
            found = e.identity();
            break;
        }
        if page.events.is_empty() || page.next >= position {
            break;
        }
        after = page.next;
    }
    found.unwrap_or_else(|| EventIdentity {
        position,
        actor_id: String::new(),
        version: 0,
        event_type: String::new(),
        event_id: String::new(),
    })
}
