//! `#[derive(Actor)]`: the actor type's name, its snapshot policy and its event type,
//! from `#[aether(event = ..., snapshot_every = ..., actor_type = "...")]`.
//!
//! The derive implements the hidden `ActorMeta` trait; `#[commands]` on the actor's
//! `impl` block writes `EventSourced` from it. [`parse`] reads the attribute,
//! [`validate`] checks the values, [`expand`] writes the impl.

mod expand;
mod parse;
mod validate;

pub(crate) use expand::expand;
