//! The receiving side: [`Cluster::subscribe`], [`ClusterSubscription`], and the member's
//! *hub*, which reads the namespace's event subjects while this member has subscribers
//! and hands each event to all of them.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use aether_runtime::{BusError, Published, SubscriptionFilter};
use futures::StreamExt;
use tokio::sync::{broadcast, Mutex};
use tokio::task::JoinHandle;

use super::wire::{all_events_subject, interest_subject, Batch, ANNOUNCE};
use crate::cluster::Cluster;
use crate::error::SubscribeError;

/// What the hub hands to its subscribers.
#[derive(Debug, Clone)]
enum Item {
    Event(Arc<Published>),
    /// A forwarding member's numbering jumped: this many events never arrived.
    Missed(u64),
}

/// A member's reader of the bus, shared by its subscriptions.
pub(crate) struct Hub {
    client: async_nats::Client,
    namespace: String,
    node: Arc<str>,
    /// The registered actor types (events of others are skipped).
    types: Arc<[&'static str]>,
    state: Mutex<HubState>,
}

struct HubState {
    /// `None` once the member left.
    sender: Option<broadcast::Sender<Item>>,
    reader: Option<JoinHandle<()>>,
}

impl Hub {
    pub(crate) fn new(
        client: async_nats::Client,
        namespace: &str,
        node: Arc<str>,
        types: Vec<&'static str>,
        capacity: usize,
    ) -> Self {
        Hub {
            client,
            namespace: namespace.to_owned(),
            node,
            types: types.into(),
            state: Mutex::new(HubState {
                sender: Some(broadcast::channel(capacity.max(1)).0),
                reader: None,
            }),
        }
    }

    /// A new subscriber's receiver; starts reading the bus (subscribed at the server
    /// when this returns) if it is not read yet.
    async fn receiver(&self) -> Result<broadcast::Receiver<Item>, SubscribeError> {
        let mut state = self.state.lock().await;
        let Some(sender) = state.sender.clone() else {
            return Err(SubscribeError::Left {
                node: self.node.to_string(),
            });
        };
        let receiver = sender.subscribe();
        if state.reader.as_ref().is_none_or(|r| r.is_finished()) {
            let nats = |doing, err: &dyn fmt::Display| SubscribeError::Nats {
                node: self.node.to_string(),
                doing,
                reason: err.to_string(),
            };
            let messages = self
                .client
                .subscribe(all_events_subject(&self.namespace))
                .await
                .map_err(|e| nats("subscribing to the event subjects", &e))?;
            self.client
                .flush()
                .await
                .map_err(|e| nats("subscribing to the event subjects", &e))?;
            let types = Arc::clone(&self.types);
            state.reader = Some(tokio::spawn(read(messages, sender, types)));
        }
        Ok(receiver)
    }

    /// Whether a subscription of this member is open.
    pub(crate) async fn has_subscribers(&self) -> bool {
        let state = self.state.lock().await;
        state
            .sender
            .as_ref()
            .is_some_and(|s| s.receiver_count() > 0)
    }

    /// Stops reading the bus when no subscription is open any more.
    pub(crate) async fn reap(&self) {
        let mut state = self.state.lock().await;
        if state
            .sender
            .as_ref()
            .is_some_and(|s| s.receiver_count() == 0)
        {
            if let Some(reader) = state.reader.take() {
                reader.abort();
            }
        }
    }

    /// The member left: stops reading; subscriptions get [`BusError::Closed`] once
    /// they have taken what is waiting.
    pub(crate) async fn close(&self) {
        let mut state = self.state.lock().await;
        state.sender = None;
        if let Some(reader) = state.reader.take() {
            reader.abort();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(reader) = self.state.get_mut().reader.take() {
            reader.abort();
        }
    }
}

/// Reads the namespace's event subjects into the hub's channel.
async fn read(
    mut messages: async_nats::Subscriber,
    sender: broadcast::Sender<Item>,
    types: Arc<[&'static str]>,
) {
    let mut numbering = Numbering::default();
    while let Some(message) = messages.next().await {
        let batch = match serde_json::from_slice::<Batch>(&message.payload) {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(subject = %message.subject, error = %err, "a message on the bus is not a batch of events; ignored");
                continue;
            }
        };
        let missed = numbering.arrived(batch.source, batch.from, batch.events.len() as u64);
        if missed > 0 {
            let _ = sender.send(Item::Missed(missed));
        }
        let Some(actor_type) = types.iter().copied().find(|t| *t == batch.actor_type) else {
            tracing::debug!(actor_type = %batch.actor_type, "events of an actor type not registered here; skipped");
            continue;
        };
        let id: Arc<str> = batch.id.into();
        for event in batch.events {
            // An error only means no subscriber is left; the hub stops reading soon.
            let _ = sender.send(Item::Event(Arc::new(Published {
                actor_type,
                id: Arc::clone(&id),
                event,
            })));
        }
    }
}

/// Per forwarding source, the number of the next event expected from it.
#[derive(Debug, Default)]
struct Numbering(HashMap<String, u64>);

impl Numbering {
    /// A run of `count` events numbered from `from` arrived from `source`: how many
    /// events of that source before it never arrived. Nothing is missed before a
    /// source's first run (this member was not listening then).
    fn arrived(&mut self, source: String, from: u64, count: u64) -> u64 {
        let expected = self.0.entry(source).or_insert(from);
        let missed = from.saturating_sub(*expected);
        *expected = from + count;
        missed
    }
}

/// A stream of the events persisted by every member's actors, matching a filter: see
/// [`Cluster::subscribe`].
pub struct ClusterSubscription {
    receiver: broadcast::Receiver<Item>,
    filter: SubscriptionFilter,
}

impl fmt::Debug for ClusterSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSubscription")
            .field("filter", &self.filter)
            .field("waiting", &self.receiver.len())
            .finish()
    }
}

impl ClusterSubscription {
    /// The next matching event, from any member.
    ///
    /// # Errors
    ///
    /// [`BusError::Lagged`] once after events were missed (this subscriber fell more
    /// than [`bus_capacity`](crate::ClusterConfig::bus_capacity) behind, or events were
    /// lost on their way from a member); then events go on. [`BusError::Closed`] once
    /// this member has left and what was waiting has been taken. The count is of events
    /// (all of them, before filtering; a notice of events lost on the way that was itself
    /// dropped counts as one).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is consumed only when returned.
    pub async fn recv(&mut self) -> Result<Arc<Published>, BusError> {
        loop {
            let item = self.receiver.recv().await;
            if let Some(result) = self.take(item.map_err(|err| match err {
                broadcast::error::RecvError::Lagged(missed) => BusError::Lagged { missed },
                broadcast::error::RecvError::Closed => BusError::Closed,
            })) {
                return result;
            }
        }
    }

    /// The next matching event if one is waiting, without waiting.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), plus [`BusError::Empty`] when nothing is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<Published>, BusError> {
        loop {
            let item = self.receiver.try_recv();
            if let Some(result) = self.take(item.map_err(|err| match err {
                broadcast::error::TryRecvError::Lagged(missed) => BusError::Lagged { missed },
                broadcast::error::TryRecvError::Closed => BusError::Closed,
                broadcast::error::TryRecvError::Empty => BusError::Empty,
            })) {
                return result;
            }
        }
    }

    /// `None` for an event the filter does not pass.
    fn take(&self, item: Result<Item, BusError>) -> Option<Result<Arc<Published>, BusError>> {
        match item {
            Ok(Item::Event(published)) => self.filter.matches(&published).then_some(Ok(published)),
            Ok(Item::Missed(missed)) => Some(Err(BusError::Lagged { missed })),
            Err(err) => Some(Err(err)),
        }
    }

    /// The filter this subscription applies.
    pub fn filter(&self) -> &SubscriptionFilter {
        &self.filter
    }
}

impl Cluster {
    /// Subscribes to the events persisted by the actors of every member (this one's and
    /// the others'), matching `filter`; see the crate docs' "Events" section for what is
    /// guaranteed.
    ///
    /// Returns once every placed member has confirmed that it forwards its events: each
    /// event persisted after that is delivered (or counted as missed).
    ///
    /// # Errors
    ///
    /// [`SubscribeError::Left`] after [`leave`](Self::leave);
    /// [`SubscribeError::Nats`] when NATS fails; [`SubscribeError::Unconfirmed`] when
    /// some placed members did not confirm within the
    /// [`ask_timeout`](crate::ClusterConfig::ask_timeout) (a member that dies meanwhile
    /// is not waited for once it is declared dead).
    pub async fn subscribe(
        &self,
        filter: SubscriptionFilter,
    ) -> Result<ClusterSubscription, SubscribeError> {
        if self.inner.is_left() {
            return Err(SubscribeError::Left {
                node: self.node().to_owned(),
            });
        }
        let receiver = self.inner.hub.receiver().await?;
        self.ask_to_forward().await?;
        Ok(ClusterSubscription { receiver, filter })
    }

    /// Announces this member's interest with a reply subject and waits until every
    /// placed member has answered.
    async fn ask_to_forward(&self) -> Result<(), SubscribeError> {
        let client = &self.inner.client;
        let nats = |err: &dyn fmt::Display| SubscribeError::Nats {
            node: self.node().to_owned(),
            doing: "asking the members to forward their events",
            reason: err.to_string(),
        };
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| nats(&e))?;
        client
            .publish_with_reply(interest_subject(self.namespace()), inbox, ANNOUNCE.into())
            .await
            .map_err(|e| nats(&e))?;
        let deadline = Instant::now() + self.inner.config.ask_timeout;
        let mut view = self.inner.view.clone();
        let mut confirmed = BTreeSet::new();
        loop {
            let missing: Vec<String> = view
                .borrow_and_update()
                .placed
                .iter()
                .filter(|m| !confirmed.contains(*m))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            tokio::select! {
                reply = replies.next() => match reply {
                    Some(reply) => {
                        confirmed.insert(String::from_utf8_lossy(&reply.payload).into_owned());
                    }
                    None => return Err(nats(&"the reply subscription ended")),
                },
                changed = view.changed() => {
                    if changed.is_err() {
                        return Err(SubscribeError::Left { node: self.node().to_owned() });
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    return Err(SubscribeError::Unconfirmed {
                        node: self.node().to_owned(),
                        missing,
                        waited: self.inner.config.ask_timeout,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Numbering;

    #[test]
    fn a_jump_in_a_sources_numbering_counts_as_missed() {
        let mut numbering = Numbering::default();
        // First run of a source: whatever came before is not ours to miss.
        assert_eq!(numbering.arrived("y".into(), 40, 2), 0);
        assert_eq!(numbering.arrived("y".into(), 42, 1), 0);
        assert_eq!(numbering.arrived("z".into(), 0, 5), 0);
        // Events 43..=49 of y never came (a lagging pump, a reconnect).
        assert_eq!(numbering.arrived("y".into(), 50, 1), 7);
        assert_eq!(numbering.arrived("z".into(), 5, 1), 0);
        assert_eq!(numbering.arrived("y".into(), 51, 3), 0);
    }
}
