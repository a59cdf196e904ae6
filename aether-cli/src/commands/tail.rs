//! `aether tail`: follows new events with `aether::feed::follow`, printing each, until
//! Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use aether::feed::{follow, EventFeed, FeedError, FeedEvent, Position};
use aether::AnyStore;
use futures::StreamExt;

use crate::error::CliError;
use crate::output;

pub(crate) async fn run(
    store: &AnyStore,
    actor_type: Option<String>,
    event_type: Option<String>,
    from_start: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let filter = super::filter(actor_type, event_type);
    let mut after = if from_start {
        Position::START
    } else {
        store.feed_head().await?
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    'restart: loop {
        let mut events = follow(store.feed(), after, filter.clone(), 256);
        loop {
            let item = tokio::select! {
                _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
                item = events.next() => item,
            };
            match item {
                None => return Ok(ExitCode::SUCCESS),
                Some(Ok(event)) => {
                    after = event.position;
                    print(&event, json)?;
                }
                Some(Err(FeedError::Serialization {
                    position,
                    actor_id,
                    version,
                    reason,
                })) if position > after => {
                    eprintln!(
                        "aether: warning: skipping the row at position {position} \
                         (actor {actor_id:?}, version {version}): {reason}"
                    );
                    after = position;
                    continue 'restart;
                }
                Some(Err(err)) if err.is_transient() => {
                    eprintln!("aether: warning: {err}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some(Err(err)) => return Err(err.into()),
            }
        }
    }
}

fn print(feed_event: &FeedEvent, json: bool) -> Result<(), CliError> {
    let event = &feed_event.event;
    if json {
        return output::json_line(event);
    }
    let data = serde_json::to_string(&event.data)?;
    println!(
        "{}  {}  v{}  {}  {}  {data}",
        feed_event.position,
        event.actor_id,
        event.version,
        event.event_type,
        output::time(&event.timestamp),
    );
    Ok(())
}
