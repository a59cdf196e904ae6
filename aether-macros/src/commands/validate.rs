//! What `#[commands]` refuses, each error at the user's tokens: receivers other than
//! `&self`, `async` and generic methods, arguments that cannot be stored in a command,
//! differing error types, a missing or malformed `apply`, names that would clash, and
//! queries that answer with the actor's own events (a command missing its `Result`).

use std::collections::HashMap;

use quote::ToTokens;
use syn::{FnArg, ImplItemFn, Type};

use super::parse::{generic_args, CommandsDef, Outcome};
use crate::errors::Errors;

/// `ActorRef`'s own methods: a command with one of these names would be shadowed by them.
const ACTOR_REF_METHODS: &[&str] = &[
    "ask",
    "ask_with",
    "ask_timeout",
    "try_ask",
    "tell",
    "try_tell",
    "id",
    "stored_id",
    "runtime",
    "clone",
    "decide",
];

/// What validation found out: the actor's error type (the first fallible method's) and
/// the event type `apply` takes.
pub(crate) struct Checked<'a> {
    pub(crate) error: Option<&'a Type>,
    pub(crate) event: Option<&'a Type>,
}

/// Records every problem of `def`.
pub(crate) fn validate<'a>(def: &CommandsDef<'a>, errors: &mut Errors) -> Checked<'a> {
    let item = def.item;
    if let Some((_, path, _)) = &item.trait_ {
        errors.spanned(
            path,
            "`#[aether::commands]` goes on the actor's inherent impl block (`impl Account { .. }`), \
             not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.spanned(
            &item.generics,
            "an actor's commands block cannot be generic",
        );
    }
    if def.actor.is_none() {
        errors.spanned(
            &item.self_ty,
            "expected the actor's type name, like `impl Account`",
        );
    }
    let event = apply(def, errors);

    let mut error: Option<(&Type, String, &syn::Ident)> = None;
    let mut variants: HashMap<String, &syn::Ident> = HashMap::new();
    let names: Vec<String> = def.commands.iter().map(|c| c.ident.to_string()).collect();
    for command in &def.commands {
        let sig = &command.method.sig;
        receiver(command.method, errors);
        if let Some(asyncness) = &sig.asyncness {
            errors.spanned(
                asyncness,
                "command methods cannot be `async`: deciding is pure and runs inside the actor, \
                 one command at a time; do I/O before asking, and pass its result as an argument",
            );
        }
        if let Some(token) = &sig.unsafety {
            errors.spanned(token, "command methods cannot be `unsafe`");
        }
        if let Some(token) = &sig.constness {
            errors.spanned(token, "command methods cannot be `const`");
        }
        if let Some(abi) = &sig.abi {
            errors.spanned(abi, "command methods cannot have an ABI");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(
                &sig.generics,
                "command methods cannot be generic: their arguments are stored in the command enum",
            );
        }
        for arg in &command.args {
            match &arg.name {
                None => errors.spanned(
                    arg.arg,
                    "command arguments must be plain names (`amount: u64`): they become the \
                     fields of the command",
                ),
                Some(name) if name == "options" => errors.spanned(
                    name,
                    "`options` is reserved: the generated `*_with` method takes `options: AskOptions`",
                ),
                Some(_) => {}
            }
            owned(arg.ty, "command arguments are sent to the actor", errors);
        }
        match &command.outcome {
            Outcome::Malformed(ty) => errors.spanned(
                ty,
                "expected `Result<Event, E>`, `Result<Vec<Event>, E>`, `Result<Option<Event>, E>`, \
                 `Result<(Reply, Vec<Event>), E>`, `Result<Decision<Event, Reply>, E>` or \
                 `Result<(), E>`, with the error type spelled out",
            ),
            Outcome::Query(Some(ty)) | Outcome::ReplyAndEvents(ty) | Outcome::Decision(Some(ty)) => {
                owned(ty, "replies are sent back to the caller", errors)
            }
            _ => {}
        }
        if let Some(ty) = command.error {
            let spelled = ty.to_token_stream().to_string();
            match &error {
                None => error = Some((ty, spelled, command.ident)),
                Some((_, first, first_method)) if *first != spelled => errors.spanned(
                    ty,
                    format!(
                        "all commands of an actor share one error type: `{first_method}` returns \
                         `{first}`, so this must be `{first}` too (spelled the same way)"
                    ),
                ),
                Some(_) => {}
            }
        }
        let name = command.ident.to_string();
        if ACTOR_REF_METHODS.contains(&name.as_str()) {
            errors.spanned(
                command.ident,
                format!(
                    "a command named `{name}` would be hidden by `ActorRef::{name}`; rename it"
                ),
            );
        }
        if names.contains(&format!("{name}_with")) {
            errors.spanned(
                command.ident,
                format!("`{name}_with` is generated for `{name}` and clashes with a method of that name"),
            );
        }
        let variant = command.variant.to_string();
        if let Some(first) = variants.get(&variant) {
            errors.spanned(
                command.ident,
                format!(
                    "`{}` and `{first}` both become the command `{variant}`",
                    command.ident
                ),
            );
        } else {
            variants.insert(variant, command.ident);
        }
    }
    let error = error.map(|(ty, _, _)| ty);
    if let Some(event) = event {
        events_without_result(def, event, error, errors);
    }
    Checked { error, event }
}

/// A method that returns the actor's events in one of a command's shapes (`Event`,
/// `Vec<Event>`, `Option<Event>`, `(Reply, Vec<Event>)`, `Decision<Event, ..>`) but not
/// in a `Result` would be a query, which records nothing: almost surely a command whose
/// `Result` was left out. The types are compared by spelling (the last path segment, so
/// `events::AccountEvent` and `AccountEvent` match); a query that really answers with
/// events names them through a type of its own (an alias or a wrapper).
fn events_without_result(
    def: &CommandsDef<'_>,
    event: &Type,
    error: Option<&Type>,
    errors: &mut Errors,
) {
    for command in &def.commands {
        let Outcome::Query(Some(ty)) = command.outcome else {
            continue;
        };
        let Some(written) = returned_event(ty, event) else {
            continue;
        };
        let (event, returned) = (spelled(written), spelled(ty));
        let returns = if std::ptr::eq(ty, written) {
            format!("the actor's event type `{event}`")
        } else {
            format!("`{returned}`, events of the actor's type `{event}`,")
        };
        let fix = match error {
            Some(error) => {
                let error = spelled(error);
                format!(
                    "return `Result<{returned}, {error}>`, with the actor's error type `{error}`"
                )
            }
            None => format!("use `Result<{returned}, std::convert::Infallible>` if it cannot fail"),
        };
        errors.spanned(
            ty,
            format!(
                "`{}` returns {returns} but is not a command, so it would record nothing: a \
                 command returns `Result<{event}, E>` (or `Result<Vec<{event}>, E>` / \
                 `Result<(Reply, Vec<{event}>), E>`); {fix}",
                command.ident
            ),
        );
    }
}

/// The event in `ty`, as written there, if `ty` is `Event`, `Vec<Event>`, `Option<Event>`,
/// `(R, Vec<Event>)` or `Decision<Event, ..>`.
fn returned_event<'a>(ty: &'a Type, event: &Type) -> Option<&'a Type> {
    let is_event = |ty: &&Type| same_type(ty, event);
    if is_event(&ty) {
        return Some(ty);
    }
    let first = |name| generic_args(ty, name).and_then(|args| args.first().copied());
    if let Some(inner) = first("Vec")
        .or_else(|| first("Option"))
        .or_else(|| first("Decision"))
    {
        return Some(inner).filter(is_event);
    }
    match ungroup(ty) {
        Type::Tuple(tuple) if tuple.elems.len() == 2 => generic_args(&tuple.elems[1], "Vec")
            .and_then(|args| match args[..] {
                [inner] => Some(inner),
                _ => None,
            })
            .filter(is_event),
        _ => None,
    }
}

/// The same type by spelling; paths compare by their last segment (name and arguments).
fn same_type(a: &Type, b: &Type) -> bool {
    match (ungroup(a), ungroup(b)) {
        (Type::Path(a), Type::Path(b)) if a.qself.is_none() && b.qself.is_none() => {
            match (a.path.segments.last(), b.path.segments.last()) {
                (Some(a), Some(b)) => {
                    a.ident == b.ident
                        && a.arguments.to_token_stream().to_string()
                            == b.arguments.to_token_stream().to_string()
                }
                _ => false,
            }
        }
        (a, b) => spelled(a) == spelled(b),
    }
}

/// `ty` without the invisible or written parentheses around it.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        other => other,
    }
}

/// `ty` as the user wrote it, for messages (`Vec<Ev>`, not `Vec < Ev >`).
fn spelled(ty: &impl ToTokens) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let drop_space = c == ' '
            && (out.ends_with(['<', '(', '&', ':'])
                || matches!(next, Some('<' | '>' | ')' | ',' | ':')));
        if !drop_space {
            out.push(c);
        }
    }
    out
}

/// Only `&self`.
fn receiver(method: &ImplItemFn, errors: &mut Errors) {
    match method.sig.receiver() {
        None => errors.spanned(
            &method.sig.ident,
            "every method of a `#[aether::commands]` block is a command and takes `&self`; \
             move helpers to another impl block",
        ),
        Some(receiver) if receiver.reference.is_none() => {
            errors.spanned(receiver, "command methods take `&self`, not `self`")
        }
        Some(receiver) if receiver.mutability.is_some() => errors.spanned(
            receiver,
            "command methods take `&self`, not `&mut self`: a command decides which events to \
             record, and only `apply` changes the state",
        ),
        Some(_) => {}
    }
}

/// Rejects borrowed and `impl Trait` types, which cannot cross the mailbox.
fn owned(ty: &Type, why: &str, errors: &mut Errors) {
    match ty {
        Type::Reference(_) => errors.spanned(
            ty,
            format!("{why}, so they must be owned: use `String` for `&str`, `Vec<T>` for `&[T]`"),
        ),
        Type::ImplTrait(_) => {
            errors.spanned(ty, format!("{why}: use a concrete type, not `impl Trait`"))
        }
        _ => {}
    }
}

/// `fn apply(&mut self, event: &Event)`; returns `Event`.
fn apply<'a>(def: &CommandsDef<'a>, errors: &mut Errors) -> Option<&'a Type> {
    let Some(apply) = def.apply else {
        errors.spanned(
            &def.item.self_ty,
            "missing `fn apply(&mut self, event: &YourEvent)` in this block: it is how recorded \
             events change the state",
        );
        return None;
    };
    let sig = &apply.sig;
    let shape = "expected `fn apply(&mut self, event: &YourEvent)`";
    match sig.receiver() {
        Some(r) if r.reference.is_some() && r.mutability.is_some() => {}
        Some(r) => errors.spanned(r, format!("{shape}: `apply` takes `&mut self`")),
        None => errors.spanned(&sig.ident, format!("{shape}: `apply` takes `&mut self`")),
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.spanned(asyncness, format!("{shape}: `apply` cannot be `async`"));
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(&sig.generics, format!("{shape}: `apply` cannot be generic"));
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        errors.spanned(ty, format!("{shape}: `apply` returns nothing"));
    }
    let typed: Vec<_> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    match typed[..] {
        [event] => match &*event.ty {
            Type::Reference(r) if r.mutability.is_none() => Some(&r.elem),
            other => {
                errors.spanned(
                    other,
                    format!("{shape}: the event is taken by shared reference"),
                );
                None
            }
        },
        _ => {
            errors.spanned(&sig.inputs, format!("{shape}: `apply` takes one event"));
            None
        }
    }
}
