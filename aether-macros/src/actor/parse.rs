//! Reading `#[aether(...)]` on the actor's state struct into [`ActorDef`].

use syn::{DeriveInput, LitInt, LitStr, Path, Type};

use crate::errors::Errors;

/// What the attribute says.
pub(crate) struct ActorDef<'a> {
    /// The state struct.
    pub(crate) input: &'a DeriveInput,
    /// `event = Type`.
    pub(crate) event: Option<Type>,
    /// `snapshot_every = N`.
    pub(crate) snapshot_every: Option<LitInt>,
    /// `actor_type = "Name"`.
    pub(crate) actor_type: Option<LitStr>,
    /// `upcasters = path::to::fn`.
    pub(crate) upcasters: Option<Path>,
}

/// Reads every `#[aether(...)]` on the struct, recording unknown keys and duplicates.
pub(crate) fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> ActorDef<'a> {
    let mut def = ActorDef {
        input,
        event: None,
        snapshot_every: None,
        actor_type: None,
        upcasters: None,
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("aether")) {
        let result = attr.parse_nested_meta(|meta| {
            let duplicate = || meta.error("duplicate key in `#[aether(...)]`");
            if meta.path.is_ident("event") {
                let ty: Type = meta.value()?.parse()?;
                if def.event.replace(ty).is_some() {
                    return Err(duplicate());
                }
            } else if meta.path.is_ident("snapshot_every") {
                let n: LitInt = meta.value()?.parse()?;
                if def.snapshot_every.replace(n).is_some() {
                    return Err(duplicate());
                }
            } else if meta.path.is_ident("actor_type") {
                let name: LitStr = meta.value()?.parse()?;
                if def.actor_type.replace(name).is_some() {
                    return Err(duplicate());
                }
            } else if meta.path.is_ident("upcasters") {
                let path: Path = meta.value()?.parse()?;
                if def.upcasters.replace(path).is_some() {
                    return Err(duplicate());
                }
            } else {
                return Err(meta.error(
                    "unknown aether attribute on an actor: expected `event = EventType`, \
                     `snapshot_every = N`, `actor_type = \"Name\"` or \
                     `upcasters = fn_returning_upcasters`",
                ));
            }
            Ok(())
        });
        errors.ok(result);
    }
    def
}
