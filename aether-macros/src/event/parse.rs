//! Reading an event enum or struct into [`EventDef`].

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr};

use crate::errors::Errors;

/// The event type being derived.
pub(crate) struct EventDef<'a> {
    /// The whole item, as written.
    pub(crate) input: &'a DeriveInput,
    /// One entry per variant, or a single entry for a struct.
    pub(crate) variants: Vec<Variant<'a>>,
    /// Whether the item is an enum (else a struct).
    pub(crate) is_enum: bool,
}

/// One event: an enum variant, or the struct itself.
pub(crate) struct Variant<'a> {
    /// The variant's (or struct's) name.
    pub(crate) ident: &'a Ident,
    /// The stored `eventType`: the name, or the `rename` attribute's value.
    pub(crate) event_type: String,
    /// What an error about the name points at: the `rename` literal, else the ident.
    pub(crate) name_tokens: TokenStream,
    /// The fields as written.
    pub(crate) fields: &'a Fields,
    /// Older stored names that decode as this event (`#[aether(alias = "Old")]`).
    pub(crate) aliases: Vec<LitStr>,
}

/// Reads the item. Errors on unknown `#[aether(...)]` keys are recorded; unions are left
/// to [`validate`](super::validate).
pub(crate) fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> EventDef<'a> {
    let (variants, is_enum) = match &input.data {
        Data::Enum(data) => (
            data.variants
                .iter()
                .map(|v| variant(&v.ident, &v.attrs, &v.fields, errors))
                .collect(),
            true,
        ),
        Data::Struct(data) => (
            vec![variant(&input.ident, &input.attrs, &data.fields, errors)],
            false,
        ),
        Data::Union(_) => (Vec::new(), false),
    };
    EventDef {
        input,
        variants,
        is_enum,
    }
}

fn variant<'a>(
    ident: &'a Ident,
    attrs: &[Attribute],
    fields: &'a Fields,
    errors: &mut Errors,
) -> Variant<'a> {
    let Names { rename, aliases } = names(attrs, errors);
    let (event_type, name_tokens) = match rename {
        Some(lit) => (lit.value(), lit.into_token_stream()),
        None => (
            ident.to_string().trim_start_matches("r#").to_owned(),
            ident.into_token_stream(),
        ),
    };
    Variant {
        ident,
        event_type,
        name_tokens,
        fields,
        aliases,
    }
}

/// The names an event's `#[aether(...)]` attributes give it.
struct Names {
    rename: Option<LitStr>,
    aliases: Vec<LitStr>,
}

/// The `#[aether(rename = "...")]` value, if any, and every `alias = "..."`.
fn names(attrs: &[Attribute], errors: &mut Errors) -> Names {
    let mut rename = None;
    let mut aliases = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("aether")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: LitStr = meta.value()?.parse()?;
                if rename.is_some() {
                    return Err(meta.error("duplicate `rename`"));
                }
                rename = Some(lit);
                Ok(())
            } else if meta.path.is_ident("alias") {
                aliases.push(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown aether attribute on an event: expected `rename = \"EventName\"` \
                     or `alias = \"OldName\"`",
                ))
            }
        });
        errors.ok(result);
    }
    Names { rename, aliases }
}
