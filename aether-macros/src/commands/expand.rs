//! Writing the command enum, the reply enum, the extension trait on `ActorRef<Actor>`
//! and `impl EventSourced`.
//!
//! With errors reported, the same items are written as a stub: bodies become
//! `unreachable!()` and types that cannot be stored become `()`, so the user's other code
//! still finds `AccountCommand`, `AccountCommands` and the trait impl, and one mistake
//! gives one error.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemImpl, Type, Visibility};

use super::parse::{parse, reach, Command, CommandsDef, Outcome};
use super::validate::{validate, Checked};
use crate::errors::Errors;

/// The attribute's whole output: the user's block, the generated items, any errors.
pub(crate) fn expand(args: TokenStream, item: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    let cluster = match syn::parse2::<Option<Ident>>(args.clone()) {
        Ok(None) => false,
        Ok(Some(arg)) if arg == "cluster" => true,
        _ => {
            errors.spanned(
                &args,
                "`#[aether::commands]` takes no arguments, or `cluster` (commands, replies \
                 and errors that cross the wire between cluster members)",
            );
            false
        }
    };
    let def = parse(&item);
    let checked = validate(&def, &mut errors);
    let compile_errors = errors.into_compile_errors();
    let generated = match def.actor {
        Some(actor) if item.generics.params.is_empty() && item.trait_.is_none() => {
            let mut generated = Generated::new(&def, &checked, actor, compile_errors.is_some());
            generated.cluster = cluster;
            generated.items()
        }
        _ => TokenStream::new(),
    };
    quote! {
        #compile_errors
        #item
        #generated
    }
}

/// Names and settings shared by the generated items.
pub(super) struct Generated<'d, 'a> {
    pub(super) def: &'d CommandsDef<'a>,
    pub(super) checked: &'d Checked<'a>,
    pub(super) self_ty: &'a Type,
    pub(super) command: Ident,
    pub(super) reply: Ident,
    pub(super) commands_trait: Ident,
    pub(super) actor_name: String,
    pub(super) vis: Visibility,
    pub(super) stub: bool,
    /// `#[aether::commands(cluster)]`: the command and reply enums derive serde, and the
    /// error type must be serde too.
    pub(super) cluster: bool,
}

impl<'d, 'a> Generated<'d, 'a> {
    fn new(def: &'d CommandsDef<'a>, checked: &'d Checked<'a>, actor: &Ident, stub: bool) -> Self {
        let actor_name = actor.to_string().trim_start_matches("r#").to_owned();
        let vis = def
            .commands
            .iter()
            .map(|c| &c.method.vis)
            .max_by_key(|v| reach(v))
            .cloned()
            .unwrap_or(Visibility::Inherited);
        Generated {
            def,
            checked,
            self_ty: &def.item.self_ty,
            command: Ident::new(&format!("{actor_name}Command"), actor.span()),
            reply: Ident::new(&format!("{actor_name}Reply"), actor.span()),
            commands_trait: Ident::new(&format!("{actor_name}Commands"), actor.span()),
            actor_name,
            vis,
            stub,
            cluster: false,
        }
    }

    fn items(&self) -> TokenStream {
        let command_enum = self.command_enum();
        let reply_enum = self.reply_enum();
        let commands_trait = self.commands_trait();
        let debug = self.debug_impls();
        let event_sourced = self.event_sourced();
        let trait_impl = self.trait_impl();
        let cluster_check = self.cluster_check();
        let apply_event = self.checked.event.filter(|_| !self.stub).map(|event| {
            let self_ty = self.self_ty;
            quote! {
                #[automatically_derived]
                impl ::aether::__private::ApplyEvent for #self_ty {
                    type Event = #event;
                }
            }
        });
        quote! {
            #command_enum
            #reply_enum
            #commands_trait
            #[doc(hidden)]
            const _: () = {
                #debug
                #apply_event
                #event_sourced
                #trait_impl
                #cluster_check
            };
        }
    }

    /// With `cluster`: the domain error must cross the wire too (one error, at the
    /// error type, saying what to derive).
    fn cluster_check(&self) -> TokenStream {
        if !self.cluster || self.stub {
            return TokenStream::new();
        }
        let Some(error) = self.checked.error else {
            return TokenStream::new();
        };
        quote_spanned! {error.span()=>
            const _: fn() = ::aether::__private::assert_cluster_wire::<#error>;
        }
    }

    fn command_enum(&self) -> TokenStream {
        let (vis, name, actor) = (&self.vis, &self.command, &self.actor_name);
        let doc = format!(
            " The commands of `{actor}`, one variant per method of its `#[aether::commands]` \
             block, holding the method's arguments: `{actor}`'s `EventSourced::Command`.\n\n \
             Send them with `ActorRef::ask`, or use the typed methods of `{actor}Commands`; \
             the test kit takes them in `when`."
        );
        let variants = self.def.commands.iter().map(|c| {
            let docs = docs_or(c, &format!(" The `{}` command.", c.ident));
            let variant = &c.variant;
            let fields = fields(c).map(|(name, ty)| {
                let doc = format!(" The `{name}` argument.");
                quote!(#[doc = #doc] #name: #ty)
            });
            quote!(#docs #variant { #(#fields,)* })
        });
        self.cloneable_enum(vis, name, &doc, variants)
    }

    /// `enum #name { #variants }`, `Clone`: a command can be sent again, and a retried
    /// command id is answered with a copy of the first reply. In a stub (the block has
    /// errors already) a clone that never runs, so that a type that is not `Clone` adds
    /// no second error.
    fn cloneable_enum(
        &self,
        vis: &Visibility,
        name: &Ident,
        doc: &str,
        variants: impl Iterator<Item = TokenStream>,
    ) -> TokenStream {
        let (derive_clone, stub_clone) = if self.stub {
            let stub_clone = quote! {
                #[automatically_derived]
                impl ::core::clone::Clone for #name {
                    fn clone(&self) -> Self {
                        ::core::unreachable!("a stub of a block with errors")
                    }
                }
            };
            (None, Some(stub_clone))
        } else if self.cluster {
            let derive = quote! {
                #[derive(
                    Clone,
                    ::aether::__private::serde::Serialize,
                    ::aether::__private::serde::Deserialize
                )]
                #[serde(crate = "::aether::__private::serde")]
            };
            (Some(derive), None)
        } else {
            (Some(quote!(#[derive(Clone)])), None)
        };
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #derive_clone
            #vis enum #name {
                #(#variants,)*
            }
            #stub_clone
        }
    }

    fn reply_enum(&self) -> TokenStream {
        let (vis, name, actor) = (&self.vis, &self.reply, &self.actor_name);
        let doc = format!(
            " The replies of `{actor}`'s commands, one variant per command: `{actor}`'s \
             `EventSourced::Reply`. The methods of `{actor}Commands` unwrap it."
        );
        let variants = self.def.commands.iter().map(|c| {
            let doc = format!(" The reply of `{}`.", c.ident);
            let variant = &c.variant;
            let ty = reply_type(c);
            quote!(#[doc = #doc] #variant(#ty))
        });
        self.cloneable_enum(vis, name, &doc, variants)
    }

    pub(super) fn error_type(&self) -> TokenStream {
        match self.checked.error {
            Some(ty) => quote!(#ty),
            None => quote!(::core::convert::Infallible),
        }
    }

    fn debug_impls(&self) -> TokenStream {
        let (command, reply) = (&self.command, &self.reply);
        let command_arms = self.def.commands.iter().map(|c| {
            let variant = &c.variant;
            let text = format!("{command}::{variant}");
            quote!(Self::#variant { .. } => f.write_str(#text),)
        });
        let reply_arms = self.def.commands.iter().map(|c| {
            let variant = &c.variant;
            let text = format!("{reply}::{variant}");
            quote!(Self::#variant(..) => f.write_str(#text),)
        });
        quote! {
            #[automatically_derived]
            impl ::core::fmt::Debug for #command {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match *self { #(#command_arms)* }
                }
            }
            #[automatically_derived]
            impl ::core::fmt::Debug for #reply {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match *self { #(#reply_arms)* }
                }
            }
        }
    }

    fn event_sourced(&self) -> TokenStream {
        let (self_ty, command, reply) = (self.self_ty, &self.command, &self.reply);
        let error = self.error_type();
        let span = self_ty.span();
        let meta = quote_spanned!(span=> <Self as ::aether::__private::ActorMeta>);
        // `Event` is what `apply` takes (so a missing derive is reported once, at the
        // self type); a separate check ties it to the derive's `event = ...`.
        let (event, same_event) = match (self.stub, self.checked.event) {
            (false, Some(ty)) => {
                let event =
                    quote_spanned!(ty.span()=> <Self as ::aether::__private::ApplyEvent>::Event);
                let declared =
                    quote_spanned!(span=> <#self_ty as ::aether::__private::ActorMeta>::Event);
                let applied = quote_spanned!(ty.span()=> <#self_ty as ::aether::__private::ApplyEvent>::Event);
                let check = quote_spanned! {ty.span()=>
                    const _: fn() = ::aether::__private::assert_event_is::<#applied, #declared>;
                };
                (event, check)
            }
            _ => (quote_spanned!(span=> #meta::Event), TokenStream::new()),
        };
        let decide = if self.stub {
            quote!(::core::unreachable!())
        } else {
            let arms = self.def.commands.iter().map(|c| self.decide_arm(c));
            quote!(match command { #(#arms)* })
        };
        let apply = match (self.stub, self.checked.event) {
            (false, Some(ty)) => quote_spanned!(ty.span()=> <#self_ty>::apply(self, event)),
            _ => quote!(::core::unreachable!()),
        };
        // `EventSourced` itself is written by `#[derive(Actor)]` from this, at the struct.
        quote_spanned! {span=>
            #[automatically_derived]
            impl ::aether::__private::Commands for #self_ty {
                type Command = #command;
                type Event = #event;
                type Reply = #reply;
                type Error = #error;

                #[allow(unused_variables)]
                fn decide(
                    &self,
                    command: &Self::Command,
                ) -> ::core::result::Result<
                    ::aether::__private::aether_runtime::Decision<Self::Event, Self::Reply>,
                    Self::Error,
                > {
                    #decide
                }

                #[allow(unused_variables)]
                fn apply(&mut self, event: &Self::Event) {
                    #apply
                }
            }
            #same_event
        }
    }

    fn decide_arm(&self, c: &Command<'_>) -> TokenStream {
        let (self_ty, command, reply) = (self.self_ty, &self.command, &self.reply);
        let (ident, variant) = (c.ident, &c.variant);
        let names: Vec<_> = fields(c).map(|(name, _)| name).collect();
        let clones = fields(c)
            .map(|(name, ty)| quote_spanned!(ty.span()=> ::core::clone::Clone::clone(#name)));
        let decision = quote!(::aether::__private::aether_runtime::Decision::new);
        let ok = quote!(::core::result::Result::Ok);
        let err = quote!(::core::result::Result::Err);
        let span = match &c.method.sig.output {
            syn::ReturnType::Type(_, ty) => ty.span(),
            syn::ReturnType::Default => c.ident.span(),
        };
        let convert = match c.outcome {
            Outcome::Query(_) => quote_spanned! {span=>
                #ok(#decision(::std::vec::Vec::new(), #reply::#variant(outcome)))
            },
            Outcome::Event => quote_spanned! {span=> match outcome {
                #ok(event) => #ok(#decision(::std::vec![event], #reply::#variant(()))),
                #err(error) => #err(error),
            }},
            Outcome::Events => quote_spanned! {span=> match outcome {
                #ok(events) => #ok(#decision(events, #reply::#variant(()))),
                #err(error) => #err(error),
            }},
            Outcome::MaybeEvent => quote_spanned! {span=> match outcome {
                #ok(event) => #ok(#decision(
                    ::core::iter::Iterator::collect(::core::option::Option::into_iter(event)),
                    #reply::#variant(()),
                )),
                #err(error) => #err(error),
            }},
            Outcome::Nothing => quote_spanned! {span=> match outcome {
                #ok(()) => #ok(#decision(::std::vec::Vec::new(), #reply::#variant(()))),
                #err(error) => #err(error),
            }},
            Outcome::ReplyAndEvents(_) => quote_spanned! {span=> match outcome {
                #ok((reply, events)) => #ok(#decision(events, #reply::#variant(reply))),
                #err(error) => #err(error),
            }},
            Outcome::Decision(_) => quote_spanned! {span=> match outcome {
                #ok(decision) => #ok(#decision(decision.events, #reply::#variant(decision.reply))),
                #err(error) => #err(error),
            }},
            Outcome::Malformed(_) => quote!(::core::unreachable!()),
        };
        quote! {
            #command::#variant { #(#names),* } => {
                let outcome = <#self_ty>::#ident(self, #(#clones),*);
                #convert
            }
        }
    }
}

/// The command's fields: its arguments' names (or `argN` for patterns) and types, with
/// types that cannot be stored replaced by `()` (already reported).
pub(super) fn fields<'c>(c: &'c Command<'_>) -> impl Iterator<Item = (Ident, TokenStream)> + 'c {
    c.args.iter().enumerate().map(|(i, arg)| {
        let name = arg
            .name
            .clone()
            .unwrap_or_else(|| Ident::new(&format!("arg{i}"), Span::call_site()));
        (name, storable(arg.ty))
    })
}

/// The reply type a command's variant carries.
pub(super) fn reply_type(c: &Command<'_>) -> TokenStream {
    match c.outcome {
        Outcome::Query(Some(ty)) | Outcome::ReplyAndEvents(ty) | Outcome::Decision(Some(ty)) => {
            storable(ty)
        }
        _ => quote!(()),
    }
}

fn storable(ty: &Type) -> TokenStream {
    match ty {
        Type::Reference(_) | Type::ImplTrait(_) => quote!(()),
        _ => quote!(#ty),
    }
}

/// The method's `///` docs, or `fallback` when it has none.
pub(super) fn docs_or(c: &Command<'_>, fallback: &str) -> TokenStream {
    if c.docs.is_empty() {
        quote!(#[doc = #fallback])
    } else {
        let docs = &c.docs;
        quote!(#(#docs)*)
    }
}
