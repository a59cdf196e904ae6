//! Who wants events: every member listens on `aether.<ns>.bus-interest`. An
//! announcement renews this member's forwarding lease (and, carrying a reply subject, is
//! answered with the node id once forwarding runs); a query from a joining member is
//! answered with an announcement when this member has subscribers. Every heartbeat
//! interval a member with subscribers announces, an expired lease stops forwarding, and
//! a hub without subscribers stops reading.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::task::JoinHandle;

use super::subscription::Hub;
use super::wire::{interest_subject, ANNOUNCE, QUERY};
use crate::host::Host;

/// What the interest loop needs.
pub(crate) struct Interest {
    pub(crate) client: async_nats::Client,
    pub(crate) namespace: String,
    pub(crate) node: Arc<str>,
    pub(crate) host: Arc<Host>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) lease: Duration,
    pub(crate) tick: Duration,
}

impl Interest {
    /// Subscribes to the interest subject, asks whether anyone has subscribers (so a
    /// joining member forwards before it is placed), and runs the loop on a task.
    pub(crate) async fn start(self) -> Result<JoinHandle<()>, async_nats::Error> {
        let subject = interest_subject(&self.namespace);
        let messages = self.client.subscribe(subject.clone()).await?;
        self.client.publish(subject, QUERY.into()).await?;
        Ok(tokio::spawn(self.run(messages)))
    }

    /// Runs until the subscription ends (the connection is closed).
    async fn run(self, mut messages: async_nats::Subscriber) {
        let subject = interest_subject(&self.namespace);
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return };
                    if *message.payload == *ANNOUNCE {
                        self.host.forward_until(Instant::now() + self.lease);
                        if let Some(reply) = message.reply {
                            let node = self.node.as_bytes().to_vec();
                            if let Err(err) = self.client.publish(reply, node.into()).await {
                                tracing::warn!(error = %err, "cannot confirm forwarding events");
                            }
                        }
                    } else if *message.payload == *QUERY && self.hub.has_subscribers().await {
                        self.announce(&subject).await;
                    }
                }
                _ = tick.tick() => {
                    self.host.forwarder().expire(Instant::now());
                    if self.hub.has_subscribers().await {
                        self.announce(&subject).await;
                    } else {
                        self.hub.reap().await;
                    }
                }
            }
        }
    }

    async fn announce(&self, subject: &str) {
        if let Err(err) = self
            .client
            .publish(subject.to_owned(), ANNOUNCE.into())
            .await
        {
            tracing::warn!(error = %err, "cannot ask the members to forward their events");
        }
    }
}
