//! Reading the `impl` block into [`CommandsDef`]: the methods, their arguments and what
//! their return types mean.

use syn::{
    Attribute, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, PathArguments,
    ReturnType, Type, Visibility,
};

/// The `impl` block.
pub(crate) struct CommandsDef<'a> {
    /// The block as written.
    pub(crate) item: &'a ItemImpl,
    /// The actor's name (the last segment of the self type), when it is a path.
    pub(crate) actor: Option<&'a Ident>,
    /// The command and query methods, in order.
    pub(crate) commands: Vec<Command<'a>>,
    /// The `apply` method.
    pub(crate) apply: Option<&'a ImplItemFn>,
}

/// One command or query method.
pub(crate) struct Command<'a> {
    /// The method as written.
    pub(crate) method: &'a ImplItemFn,
    /// Its name.
    pub(crate) ident: &'a Ident,
    /// The command enum's variant: the name in UpperCamelCase.
    pub(crate) variant: Ident,
    /// Its arguments after `&self`; `None` names for patterns that are not plain names.
    pub(crate) args: Vec<Arg<'a>>,
    /// What the return type means.
    pub(crate) outcome: Outcome<'a>,
    /// The error type of a `Result` return.
    pub(crate) error: Option<&'a Type>,
    /// The method's `///` docs.
    pub(crate) docs: Vec<&'a Attribute>,
}

/// One argument.
pub(crate) struct Arg<'a> {
    /// The argument's name; `None` when the pattern is not a plain name.
    pub(crate) name: Option<Ident>,
    /// The argument as written (for errors).
    pub(crate) arg: &'a FnArg,
    /// Its type.
    pub(crate) ty: &'a Type,
}

/// What a method's return type means.
pub(crate) enum Outcome<'a> {
    /// Not a `Result`: a query answering this type (`None`: `()`).
    Query(Option<&'a Type>),
    /// `Result<Event, E>`: one event.
    Event,
    /// `Result<Vec<Event>, E>`: several events, persisted atomically.
    Events,
    /// `Result<Option<Event>, E>`: zero or one event.
    MaybeEvent,
    /// `Result<(), E>`: a check that records nothing.
    Nothing,
    /// `Result<(Reply, Vec<Event>), E>`.
    ReplyAndEvents(&'a Type),
    /// `Result<Decision<Event, Reply>, E>` (`None`: `Decision<Event>`, reply `()`).
    Decision(Option<&'a Type>),
    /// A `Result` whose shape is not understood (reported by `validate`).
    Malformed(&'a Type),
}

/// Reads the block.
pub(crate) fn parse(item: &ItemImpl) -> CommandsDef<'_> {
    let actor = match &*item.self_ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    };
    let mut commands = Vec::new();
    let mut apply = None;
    for method in item.items.iter().filter_map(|i| match i {
        ImplItem::Fn(f) => Some(f),
        _ => None,
    }) {
        if method.sig.ident == "apply" {
            apply = Some(method);
        } else {
            commands.push(command(method));
        }
    }
    CommandsDef {
        item,
        actor,
        commands,
        apply,
    }
}

fn command(method: &ImplItemFn) -> Command<'_> {
    let args = method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Receiver(_) => None,
            FnArg::Typed(typed) => Some(Arg {
                name: match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        Some(pat.ident.clone())
                    }
                    _ => None,
                },
                arg,
                ty: &typed.ty,
            }),
        })
        .collect();
    let (outcome, error) = outcome(&method.sig.output);
    Command {
        method,
        ident: &method.sig.ident,
        variant: Ident::new(&upper_camel(&method.sig.ident), method.sig.ident.span()),
        args,
        outcome,
        error,
        docs: method
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .collect(),
    }
}

/// Classifies a return type by its spelling: `Result<T, E>` is a command, anything else
/// a query (`validate` refuses a query that answers with the actor's events).
fn outcome(output: &ReturnType) -> (Outcome<'_>, Option<&Type>) {
    let ty = match output {
        ReturnType::Default => return (Outcome::Query(None), None),
        ReturnType::Type(_, ty) => &**ty,
    };
    let Some(args) = generic_args(ty, "Result") else {
        return (Outcome::Query(Some(ty)), None);
    };
    let [ok, err] = args[..] else {
        return (Outcome::Malformed(ty), None);
    };
    let outcome = if generic_args(ok, "Vec").is_some() {
        Outcome::Events
    } else if generic_args(ok, "Option").is_some() {
        Outcome::MaybeEvent
    } else if let Some(decision) = generic_args(ok, "Decision") {
        match decision[..] {
            [_] => Outcome::Decision(None),
            [_, reply] => Outcome::Decision(Some(reply)),
            _ => Outcome::Malformed(ok),
        }
    } else if let Type::Tuple(tuple) = ok {
        match tuple.elems.len() {
            0 => Outcome::Nothing,
            2 => Outcome::ReplyAndEvents(&tuple.elems[0]),
            _ => Outcome::Malformed(ok),
        }
    } else {
        Outcome::Event
    };
    (outcome, Some(err))
}

/// The type arguments of `ty` if it is a path whose last segment is `name<...>`.
pub(crate) fn generic_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Some(Vec::new());
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// `deposit_all` → `DepositAll`.
pub(crate) fn upper_camel(ident: &Ident) -> String {
    let name = ident.to_string();
    let name = name.trim_start_matches("r#");
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("Command");
    }
    out
}

/// How widely a visibility reaches, to give the generated items the widest of the
/// methods' visibilities.
pub(crate) fn reach(vis: &Visibility) -> u8 {
    match vis {
        Visibility::Public(_) => 3,
        Visibility::Restricted(r) if r.path.is_ident("crate") => 2,
        Visibility::Restricted(_) => 1,
        Visibility::Inherited => 0,
    }
}
