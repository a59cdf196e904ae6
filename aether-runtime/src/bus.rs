//! The in-process event bus: subscribe to events as they are persisted.
//!
//! Every event an actor of the runtime persists is published after the store has
//! accepted it, in the order the actor persisted them. A [`Subscription`] sees the
//! events matching its [`SubscriptionFilter`]; one that falls more than the bus's
//! capacity behind gets [`BusError::Lagged`] with the number of events it missed (never a
//! silent gap) and then goes on from the oldest event still kept. With no subscriber the
//! bus costs one atomic load per command.
//!
//! ```
//! use std::sync::Arc;
//! use aether_core::InMemoryStore;
//! use aether_runtime::{Runtime, SubscriptionFilter};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
//! let mut deposits = runtime.subscribe(SubscriptionFilter::event_type("Deposited"));
//! // ... commands run elsewhere; then:
//! # runtime.shutdown().await;
//! # drop(deposits.try_recv());
//! # });
//! ```
//!
//! Events published by other runtimes (other processes) on the same store are not seen:
//! the bus is in-process. [`DurableSubscription`] sees them: it reads the store's feed
//! from its last acknowledged position, so it also sees what was written while its
//! process was down.

use std::fmt;
use std::sync::Arc;

use aether_core::Event;
use tokio::sync::broadcast;

pub use crate::durable::DurableSubscription;

/// One persisted event, as the bus delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The actor type's name ([`EventSourced::ACTOR_TYPE`](crate::EventSourced::ACTOR_TYPE)).
    pub actor_type: &'static str,
    /// The actor's id as given to [`Runtime::actor`](crate::Runtime::actor) (without the
    /// type prefix that [`Event::actor_id`] carries).
    pub id: Arc<str>,
    /// The stored event.
    pub event: Event,
}

/// Which events a [`Subscription`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionFilter {
    /// Every event.
    All,
    /// Events of actors of one type.
    ActorType(String),
    /// Events of one actor (type and id as given to [`Runtime::actor`](crate::Runtime::actor)).
    Actor {
        /// The actor type.
        actor_type: String,
        /// The actor id.
        id: String,
    },
    /// Events with one `event_type`.
    EventType(String),
}

impl SubscriptionFilter {
    /// Events of actors of type `A`.
    pub fn actor_type<A: crate::EventSourced>() -> Self {
        SubscriptionFilter::ActorType(A::ACTOR_TYPE.to_owned())
    }

    /// Events of actor `id` of type `A`.
    pub fn actor<A: crate::EventSourced>(id: impl Into<String>) -> Self {
        SubscriptionFilter::Actor {
            actor_type: A::ACTOR_TYPE.to_owned(),
            id: id.into(),
        }
    }

    /// Events of type `event_type`.
    pub fn event_type(event_type: impl Into<String>) -> Self {
        SubscriptionFilter::EventType(event_type.into())
    }

    /// Whether `published` passes this filter (what [`Subscription::recv`] applies; other
    /// buses built on [`Published`], such as the cluster's, apply it too).
    pub fn matches(&self, published: &Published) -> bool {
        match self {
            SubscriptionFilter::All => true,
            SubscriptionFilter::ActorType(t) => t == published.actor_type,
            SubscriptionFilter::Actor { actor_type, id } => {
                actor_type == published.actor_type && **id == *published.id
            }
            SubscriptionFilter::EventType(t) => *t == published.event.event_type,
        }
    }
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The subscriber fell behind; this many events (of all, before filtering) were
    /// dropped for it. The next `recv` goes on with the oldest event still kept.
    #[error("subscriber lagged behind and missed {missed} events")]
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
    /// The runtime is gone; no more events will come.
    #[error("the event bus is closed")]
    Closed,
    /// ([`Subscription::try_recv`] only) no event is waiting now.
    #[error("no event waiting")]
    Empty,
}

pub(crate) struct EventBus {
    sender: broadcast::Sender<Arc<Published>>,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        EventBus {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub(crate) fn subscribe(&self, filter: SubscriptionFilter) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            filter,
        }
    }

    /// Whether anyone listens; when not, callers skip building what they would publish.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub(crate) fn publish(&self, actor_type: &'static str, id: &str, events: Vec<Event>) {
        let id: Arc<str> = id.into();
        for event in events {
            // An error only means the last subscriber went away meanwhile.
            let _ = self.sender.send(Arc::new(Published {
                actor_type,
                id: Arc::clone(&id),
                event,
            }));
        }
    }
}

/// A stream of persisted events matching a filter; see the [module docs](self).
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Published>>,
    filter: SubscriptionFilter,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("filter", &self.filter)
            .field("waiting", &self.receiver.len())
            .finish()
    }
}

impl Subscription {
    /// The next matching event.
    ///
    /// # Errors
    ///
    /// [`BusError::Lagged`] once after falling behind (then events go on);
    /// [`BusError::Closed`] when the runtime is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is consumed only when returned.
    pub async fn recv(&mut self) -> Result<Arc<Published>, BusError> {
        loop {
            match self.receiver.recv().await {
                Ok(published) if self.filter.matches(&published) => return Ok(published),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Err(BusError::Lagged { missed })
                }
                Err(broadcast::error::RecvError::Closed) => return Err(BusError::Closed),
            }
        }
    }

    /// The next matching event if one is waiting, without waiting.
    ///
    /// # Errors
    ///
    /// As [`recv`](Subscription::recv), plus [`BusError::Empty`] when nothing is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<Published>, BusError> {
        loop {
            match self.receiver.try_recv() {
                Ok(published) if self.filter.matches(&published) => return Ok(published),
                Ok(_) => continue,
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    return Err(BusError::Lagged { missed })
                }
                Err(broadcast::error::TryRecvError::Closed) => return Err(BusError::Closed),
                Err(broadcast::error::TryRecvError::Empty) => return Err(BusError::Empty),
            }
        }
    }

    /// The filter this subscription applies.
    pub fn filter(&self) -> &SubscriptionFilter {
        &self.filter
    }
}
