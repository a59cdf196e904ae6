//! The command line: `aether --store URL [--json] COMMAND`, parsed with clap's derive.

use clap::{Parser, Subcommand};

/// Inspect an aether store: list actors, read and follow events, verify, export and
/// import, stats.
///
/// The store is a URL: sqlite://events.db (relative), sqlite:///abs/events.db,
/// postgres://user@host:5432/db?schema=name, nats://host:4222?namespace=name, memory:.
#[derive(Debug, Parser)]
#[command(name = "aether", version, about, long_about)]
pub(crate) struct Cli {
    /// The store URL (passwords are never printed).
    #[arg(
        long,
        short = 's',
        env = "AETHER_STORE",
        global = true,
        hide_env_values = true
    )]
    pub(crate) store: Option<String>,

    /// Machine-readable output: JSON lines (one object per actor, event or report).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Actor ids with their latest version, event count, last write and latest snapshot.
    Actors {
        /// Only actors of this type (the part of the id before `|`).
        #[arg(long = "type", short = 't')]
        actor_type: Option<String>,
        /// At most this many actors (in id order).
        #[arg(long, short = 'n')]
        limit: Option<usize>,
    },
    /// One actor's history (its stored id, such as `Account|ada`).
    Events {
        /// The stored actor id, `Type|id`.
        actor: String,
        /// From this version (inclusive).
        #[arg(long)]
        from: Option<i64>,
        /// Up to this version (inclusive).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Follows new events live, printing each; stops on Ctrl-C.
    Tail {
        /// Only events of actors of this type.
        #[arg(long = "type", short = 't')]
        actor_type: Option<String>,
        /// Only events of this event type.
        #[arg(long)]
        event_type: Option<String>,
        /// Starts with the events already stored instead of only new ones.
        #[arg(long)]
        from_start: bool,
    },
    /// Checks the store: versions ascending per actor, every row decodes, snapshots not
    /// ahead of the events, event ids unique. Exits with 1 when it finds a problem.
    Verify {
        /// Only this actor (its stored id).
        actor: Option<String>,
    },
    /// Writes every event as one JSON line (the seed's wire format) to stdout.
    Export {
        /// Only events of actors of this type.
        #[arg(long = "type", short = 't')]
        actor_type: Option<String>,
    },
    /// Saves the events of JSON lines read from stdin (as `export` writes them), keeping
    /// their versions; refuses events that conflict with stored ones.
    Import,
    /// Events, actors, and the size on disk (SQLite).
    Stats,
}
