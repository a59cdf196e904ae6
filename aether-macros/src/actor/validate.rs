//! What `#[derive(Actor)]` refuses: a missing event type, generics, an actor type name
//! the store cannot use, a zero snapshot interval.

use super::parse::ActorDef;
use crate::errors::Errors;

/// Records every problem of `def`; returns the checked snapshot interval.
pub(crate) fn validate(def: &ActorDef<'_>, errors: &mut Errors) -> Option<u64> {
    let input = def.input;
    if def.event.is_none() {
        errors.spanned(
            &input.ident,
            "missing the actor's event type: add `#[aether(event = YourEvent)]` to the struct",
        );
    }
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "`Actor` cannot be derived for a generic type: the actor type name must be one \
             fixed string",
        );
    }
    if let syn::Data::Union(data) = &input.data {
        errors.spanned(data.union_token, "an actor's state cannot be a union");
    }
    if let Some(name) = &def.actor_type {
        let value = name.value();
        if value.is_empty() {
            errors.spanned(name, "the actor type must not be empty");
        } else if value.contains('|') {
            errors.spanned(
                name,
                "the actor type must not contain `|`: it separates the actor type from the id \
                 in stored actor ids",
            );
        }
    }
    let snapshot_every = def.snapshot_every.as_ref()?;
    match snapshot_every.base10_parse::<u64>() {
        Ok(0) => {
            errors.spanned(
                snapshot_every,
                "`snapshot_every` must be at least 1 (leave it out to use the runtime's policy)",
            );
            None
        }
        Ok(n) => Some(n),
        Err(err) => {
            errors.push(err);
            None
        }
    }
}
