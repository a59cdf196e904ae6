//! The member's request loop: the asks other members route to this one, answered by
//! its [`Host`].

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::oneshot;

use crate::host::Host;
use crate::wire::{Request, Response};

/// Answers the requests on the member's subject, each on a task of its own. Asked to
/// stop, it unsubscribes, answers the requests already received, and says so.
pub(crate) async fn serve(
    mut requests: async_nats::Subscriber,
    client: async_nats::Client,
    host: Arc<Host>,
    stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut stop = Some(stop);
    let mut done: Option<oneshot::Sender<()>> = None;
    // Every request being answered, so that a leaving member answers each before it
    // says it has.
    let mut answering = tokio::task::JoinSet::new();
    loop {
        while answering.try_join_next().is_some() {}
        let message = match stop.as_mut() {
            Some(stop_rx) => tokio::select! {
                message = requests.next() => message,
                asked = stop_rx => {
                    stop = None;
                    done = asked.ok();
                    if requests.drain().await.is_err() {
                        break;
                    }
                    continue;
                }
            },
            None => requests.next().await,
        };
        let Some(message) = message else { break };
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let host = Arc::clone(&host);
        let client = client.clone();
        answering.spawn(async move {
            let response = match serde_json::from_slice::<Request>(&message.payload) {
                Ok(request) => host.serve(request).await,
                Err(err) => Response::BadRequest {
                    reason: format!("not a cluster request: {err}"),
                },
            };
            let payload = serde_json::to_vec(&response).expect("a response is JSON");
            if let Err(err) = client.publish(reply, payload.into()).await {
                tracing::warn!(error = %err, "cannot send a cluster reply");
            }
        });
    }
    while answering.join_next().await.is_some() {}
    let _ = client.flush().await;
    if let Some(done) = done {
        let _ = done.send(());
    }
}
