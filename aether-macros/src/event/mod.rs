//! `#[derive(DomainEvent)]`: one event name per variant (or per struct) and its named
//! fields as the JSON payload.
//!
//! [`parse`] reads the item and its `#[aether(rename = "...")]` attributes, [`validate`]
//! rejects the shapes that have no JSON object payload and duplicate names, [`expand`]
//! writes the impl.

mod expand;
mod parse;
mod validate;

pub(crate) use expand::expand;
