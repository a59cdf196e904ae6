//! Writing `impl ActorMeta`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::parse::parse;
use super::validate::validate;
use crate::errors::Errors;

/// The derive's whole output: the impl, or the errors and a stub impl.
pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let def = parse(&input, &mut errors);
    let snapshot_every = validate(&def, &mut errors);
    let compile_errors = errors.into_compile_errors();
    if compile_errors.is_some() && !input.generics.params.is_empty() {
        return compile_errors.unwrap_or_default();
    }

    let ident = &input.ident;
    let actor_type = match &def.actor_type {
        Some(name) => quote!(#name),
        None => {
            let name = ident.to_string().trim_start_matches("r#").to_owned();
            quote!(#name)
        }
    };
    let snapshot_every = match snapshot_every {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    // Without a declared event type (an error is already reported), borrow the one
    // `apply` takes in `#[commands]`, so the rest of the actor still type-checks.
    let event = match &def.event {
        Some(ty) => quote_spanned!(ty.span()=> #ty),
        None => quote!(<Self as ::aether::__private::ApplyEvent>::Event),
    };
    // `EventSourced` is written here, spanned at the struct, from what
    // `#[aether::commands]` writes: a state that is not `Default` or not serializable is
    // then reported once, at the struct.
    let span = ident.span();
    let runtime = quote_spanned!(span=> ::aether::__private::aether_runtime);
    let commands = quote_spanned!(span=> <Self as ::aether::__private::Commands>);
    let upcasters = def.upcasters.as_ref().map(|path| {
        quote_spanned! {path.span()=>
            fn upcasters() -> #runtime::Upcasters {
                #path()
            }
        }
    });
    // Not after an error in the attribute: that error stays the only one.
    let event_sourced = compile_errors.is_none().then(|| quote_spanned! {span=>
        #[automatically_derived]
        impl #runtime::EventSourced for #ident {
            const ACTOR_TYPE: &'static str = #actor_type;
            const SNAPSHOT_EVERY: ::core::option::Option<u64> = #snapshot_every;
            type Command = #commands::Command;
            type Event = #commands::Event;
            type Reply = #commands::Reply;
            type Error = #commands::Error;

            fn decide(
                &self,
                command: &Self::Command,
            ) -> ::core::result::Result<#runtime::Decision<Self::Event, Self::Reply>, Self::Error> {
                #commands::decide(self, command)
            }

            fn apply(&mut self, event: &Self::Event) {
                #commands::apply(self, event)
            }

            #upcasters
        }
    });
    quote! {
        #compile_errors
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl ::aether::__private::ActorMeta for #ident {
                const ACTOR_TYPE: &'static str = #actor_type;
                const SNAPSHOT_EVERY: ::core::option::Option<u64> = #snapshot_every;
                type Event = #event;
            }
            #event_sourced
        };
    }
}
