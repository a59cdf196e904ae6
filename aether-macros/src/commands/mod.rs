//! `#[commands]` on the actor's `impl` block: each `&self` method becomes a command (it
//! returns a `Result`) or a query (anything else, but never the actor's own events, which
//! would record nothing), `apply` becomes `EventSourced::apply`, and `ActorRef<Actor>` gets
//! one typed method per command through a generated extension trait.
//!
//! [`parse`] reads the methods and classifies their return types, [`validate`] checks
//! receivers, arguments, the shared error type and names, [`expand`] writes the command
//! and reply enums, the extension trait and the `EventSourced` impl.

mod expand;
mod handle;
mod parse;
mod validate;

pub(crate) use expand::expand;
