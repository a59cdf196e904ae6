//! `aether events ACTOR`: one actor's history, its JSON data shown readably.

use std::process::ExitCode;

use aether::{AnyStore, EventStore};

use crate::error::CliError;
use crate::output;

pub(crate) async fn run(
    store: &AnyStore,
    actor: &str,
    from: Option<i64>,
    to: Option<i64>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let events = store.get_events(actor, from.unwrap_or(0)).await?;
    let events = events
        .into_iter()
        .filter(|e| to.is_none_or(|to| e.version <= to));
    for event in events {
        if json {
            output::json_line(&event)?;
            continue;
        }
        let command = event
            .command_id
            .as_deref()
            .map(|c| format!("  command {c}"))
            .unwrap_or_default();
        println!(
            "v{}  {}  {}  id {}{command}",
            event.version,
            event.event_type,
            output::time(&event.timestamp),
            event.id
        );
        let data = serde_json::to_string_pretty(&event.data)?;
        for line in data.lines() {
            println!("    {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
