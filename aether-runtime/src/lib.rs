//! The aether runtime: event-sourced actors as tokio tasks.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
