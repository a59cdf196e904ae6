//! `aether`: the command-line inspector of aether stores.
//!
//! ```text
//! aether --store sqlite://bank.db actors
//! aether --store sqlite://bank.db events 'Account|ada'
//! aether --store postgres://app@db/app?schema=bank tail --type Account
//! aether --store sqlite://bank.db verify
//! aether --store sqlite://bank.db export > events.jsonl
//! aether --store nats://127.0.0.1:4222?namespace=bank import < events.jsonl
//! aether --store sqlite://bank.db stats
//! ```
//!
//! `--json` gives JSON lines for scripts; `AETHER_STORE` can replace `--store`. Every
//! failure is one line on stderr and exit code 1 (2 for a command line clap rejects); a
//! URL is never printed with its password.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod cli;
mod commands;
mod error;
mod output;
mod scan;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&CliError::Io(err)),
    };
    let outcome = runtime.block_on(run(cli));
    // Stores keep background tasks; do not wait for them.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(err) => fail(&err),
    }
}

fn fail(err: &CliError) -> ExitCode {
    let text = err.to_string().replace('\n', " ");
    eprintln!("aether: error: {text}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let url = cli.store.ok_or(CliError::NoStore)?;
    let creates = matches!(cli.command, Command::Import);
    let store = commands::open(&url, creates).await?;
    let json = cli.json;
    match cli.command {
        Command::Actors { actor_type, limit } => {
            commands::actors::run(&store, actor_type, limit, json).await
        }
        Command::Events { actor, from, to } => {
            commands::events::run(&store, &actor, from, to, json).await
        }
        Command::Tail {
            actor_type,
            event_type,
            from_start,
        } => commands::tail::run(&store, actor_type, event_type, from_start, json).await,
        Command::Verify { actor } => commands::verify::run(&store, actor, json).await,
        Command::Export { actor_type } => commands::export::run(&store, actor_type).await,
        Command::Import => commands::import::run(&store, json).await,
        Command::Stats => commands::stats::run(&store, json).await,
    }
}
