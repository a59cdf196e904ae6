//! What `#[derive(DomainEvent)]` refuses: unions, generics, tuple shapes with more than
//! one field, empty or duplicate event names.

use std::collections::HashMap;

use syn::{Data, Fields};

use super::parse::EventDef;
use crate::errors::Errors;

/// Records every problem of `def`.
pub(crate) fn validate(def: &EventDef<'_>, errors: &mut Errors) {
    let input = def.input;
    if let Data::Union(data) = &input.data {
        errors.spanned(
            data.union_token,
            "`DomainEvent` cannot be derived for a union: use an enum with one variant per event",
        );
    }
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "`DomainEvent` cannot be derived for a generic type: events are stored by name and \
             decoded without knowing type parameters",
        );
    }
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for variant in &def.variants {
        if let Fields::Unnamed(fields) = variant.fields {
            if fields.unnamed.len() != 1 {
                errors.spanned(
                    fields,
                    format!(
                        "tuple {} with {} fields are not supported: name the fields \
                         (`{} {{ a: A, b: B }}`), or wrap them in one type that serializes \
                         as a JSON object (`{}(Payload)`)",
                        if def.is_enum { "variants" } else { "structs" },
                        fields.unnamed.len(),
                        variant.ident,
                        variant.ident,
                    ),
                );
            }
        }
        if variant.event_type.is_empty() {
            errors.spanned(&variant.name_tokens, "the event type must not be empty");
        } else if let Some(first) = seen.get(variant.event_type.as_str()) {
            errors.spanned(
                &variant.name_tokens,
                format!(
                    "duplicate event type \"{}\": `{}` already has it; each event needs its \
                     own name so it can be decoded",
                    variant.event_type, first
                ),
            );
        } else {
            seen.insert(&variant.event_type, variant.ident);
        }
    }
    // An alias may not be any event's name or another alias: a stored name must decode
    // as exactly one event.
    let mut aliases: HashMap<String, &syn::Ident> = HashMap::new();
    for variant in &def.variants {
        for alias in &variant.aliases {
            let name = alias.value();
            let taken = seen.get(name.as_str()).or_else(|| aliases.get(&name));
            if name.is_empty() {
                errors.spanned(alias, "an alias must not be empty");
            } else if let Some(owner) = taken {
                errors.spanned(
                    alias,
                    format!(
                        "\"{name}\" already decodes as `{owner}`; a stored name must decode as \
                         one event"
                    ),
                );
            } else {
                aliases.insert(name, variant.ident);
            }
        }
    }
}
