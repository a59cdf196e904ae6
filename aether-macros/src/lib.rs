//! Procedural macros for aether. Use them through the `aether` crate (feature `macros`,
//! on by default), which re-exports them and provides the paths the generated code names
//! (`::aether::__private::...`); the examples live on those re-exports.
//!
//! - `#[derive(DomainEvent)]`: event names and JSON payloads for an event enum or struct.
//! - `#[derive(Actor)]`: the actor type's name and snapshot policy for a state struct.
//! - `#[commands]`: turns an `impl` block of plain methods into the actor's commands,
//!   queries and `apply`, and adds typed methods to `ActorRef<Actor>`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput, ItemImpl};

mod actor;
mod commands;
mod errors;
mod event;

/// Derives `aether::DomainEvent`. See `aether::DomainEvent` (the derive) for the rules and
/// an example.
#[proc_macro_derive(DomainEvent, attributes(aether, serde))]
pub fn derive_domain_event(input: TokenStream) -> TokenStream {
    event::expand(parse_macro_input!(input as DeriveInput)).into()
}

/// Derives the actor's metadata (type name, snapshot policy, event type). See
/// `aether::Actor` (the derive) for the attributes and an example.
#[proc_macro_derive(Actor, attributes(aether))]
pub fn derive_actor(input: TokenStream) -> TokenStream {
    actor::expand(parse_macro_input!(input as DeriveInput)).into()
}

/// Turns the methods of an `impl` block into an actor's commands. See `aether::commands`
/// for the rules and an example.
///
/// A method returning a `Result` is a command; any other method is a query, which records
/// nothing. A method that returns the actor's event type without a `Result` (`Event`,
/// `Vec<Event>`, `Option<Event>`, `(Reply, Vec<Event>)`, `Decision<Event, Reply>`) is a
/// compile error at its return type, not a silent query: write `Result<Event, E>` (with
/// `E = std::convert::Infallible` if it cannot fail). A query that really answers with
/// events names them through a type of its own (`type History = Vec<Event>;`).
#[proc_macro_attribute]
pub fn commands(args: TokenStream, input: TokenStream) -> TokenStream {
    commands::expand(args.into(), parse_macro_input!(input as ItemImpl)).into()
}
