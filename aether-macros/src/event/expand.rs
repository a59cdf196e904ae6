//! Writing `impl DomainEvent`.
//!
//! `to_data` serializes through a private mirror of the item marked
//! `#[serde(remote = "...")]`, so the user's field-level `#[serde(...)]` attributes apply
//! without cloning or re-borrowing anything; for an enum, serde's external tag
//! (`{"Deposited": {...}}`) is then peeled off. `from_data` deserializes one private
//! struct per variant straight from the borrowed `&Value`, and `from_json` the same
//! struct straight from the stored JSON text.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, DeriveInput, Fields};

use super::parse::{parse, EventDef, Variant};
use super::validate::validate;
use crate::errors::Errors;

/// The derive's whole output: the impl, or the errors and a stub impl.
pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let def = parse(&input, &mut errors);
    validate(&def, &mut errors);
    match errors.into_compile_errors() {
        None => expand_valid(&def),
        Some(compile_errors) => {
            let stub = stub(&input);
            quote! { #compile_errors #stub }
        }
    }
}

fn expand_valid(def: &EventDef<'_>) -> TokenStream {
    let ident = &def.input.ident;
    let event_type_arms = def.variants.iter().map(|v| {
        let name = &v.event_type;
        let pattern = pattern(def, v);
        quote! { #pattern => #name, }
    });
    let to_data = to_data(def);
    let from_data_arms = def
        .variants
        .iter()
        .map(|v| from_data_arm(def, v, Source::Value));
    let from_json_arms = def
        .variants
        .iter()
        .map(|v| from_data_arm(def, v, Source::Json));
    quote! {
        #[doc(hidden)]
        const _: () = {
            use ::aether::__private::aether_runtime::{DomainEvent, EventDecodeError};
            use ::aether::__private::serde_json::{Map, Value};

            #[automatically_derived]
            impl DomainEvent for #ident {
                fn event_type(&self) -> &str {
                    match self {
                        #(#event_type_arms)*
                    }
                }

                fn to_data(&self) -> ::core::result::Result<Value, ::aether::__private::serde_json::Error> {
                    #to_data
                }

                fn from_data(
                    event_type: &str,
                    data: &Value,
                ) -> ::core::result::Result<Self, EventDecodeError> {
                    match event_type {
                        #(#from_data_arms)*
                        other => ::core::result::Result::Err(EventDecodeError::unknown_type(other)),
                    }
                }

                fn from_json(
                    event_type: &str,
                    json: &str,
                ) -> ::core::result::Result<Self, EventDecodeError> {
                    match event_type {
                        #(#from_json_arms)*
                        other => ::core::result::Result::Err(EventDecodeError::unknown_type(other)),
                    }
                }
            }
        };
    }
}

/// `Self::Variant { .. }` (or `Self { .. }` for a struct), matching any fields.
fn pattern(def: &EventDef<'_>, v: &Variant<'_>) -> TokenStream {
    let path = if def.is_enum {
        let ident = v.ident;
        quote!(Self::#ident)
    } else {
        quote!(Self)
    };
    match v.fields {
        Fields::Named(_) => quote!(#path { .. }),
        Fields::Unnamed(_) => quote!(#path(..)),
        Fields::Unit => path,
    }
}

fn to_data(def: &EventDef<'_>) -> TokenStream {
    let empty = quote!(::core::result::Result::Ok(Value::Object(Map::new())));
    if !def.is_enum {
        if matches!(def.variants[0].fields, Fields::Unit) {
            return empty;
        }
        let mirror = mirror(def);
        return quote! {
            #mirror
            __AetherRemote::serialize(self, ::aether::__private::serde_json::value::Serializer)
        };
    }
    let units: Vec<_> = def
        .variants
        .iter()
        .filter(|v| matches!(v.fields, Fields::Unit))
        .map(|v| pattern(def, v))
        .collect();
    if units.len() == def.variants.len() {
        return empty;
    }
    let unit_check = (!units.is_empty()).then(|| {
        quote! {
            if ::core::matches!(self, #(#units)|*) {
                return #empty;
            }
        }
    });
    let mirror = mirror(def);
    quote! {
        #mirror
        #unit_check
        let tagged = __AetherRemote::serialize(self, ::aether::__private::serde_json::value::Serializer)?;
        ::core::result::Result::Ok(::aether::__private::untag_event_data(tagged))
    }
}

/// The item again, named `__AetherRemote`, with only the fields' serde attributes, as a
/// serde remote definition of the user's type.
fn mirror(def: &EventDef<'_>) -> TokenStream {
    let mut item = def.input.clone();
    let remote = item.ident.to_string();
    item.ident = format_ident!("__AetherRemote");
    item.attrs.clear();
    item.vis = syn::Visibility::Inherited;
    let strip = |fields: &mut Fields| {
        for field in fields.iter_mut() {
            field.attrs.retain(is_serde);
            field.vis = syn::Visibility::Inherited;
        }
    };
    match &mut item.data {
        syn::Data::Enum(data) => {
            for variant in &mut data.variants {
                variant.attrs.clear();
                strip(&mut variant.fields);
            }
        }
        syn::Data::Struct(data) => strip(&mut data.fields),
        syn::Data::Union(_) => {}
    }
    quote! {
        #[derive(::aether::__private::serde::Serialize)]
        #[serde(crate = "::aether::__private::serde", remote = #remote)]
        #[allow(dead_code, non_camel_case_types)]
        #item
    }
}

/// Where a decoding arm reads the payload from: `data: &Value` (`from_data`) or
/// `json: &str` (`from_json`, no `Value` in between).
#[derive(Clone, Copy)]
enum Source {
    Value,
    Json,
}

fn from_data_arm(def: &EventDef<'_>, v: &Variant<'_>, source: Source) -> TokenStream {
    let name = &v.event_type;
    let aliases = &v.aliases;
    let path = if def.is_enum {
        let ident = v.ident;
        quote!(Self::#ident)
    } else {
        quote!(Self)
    };
    let decode = match source {
        Source::Value => quote! {
            <__AetherData as ::aether::__private::serde::Deserialize>::deserialize(data)
                .map_err(|err| EventDecodeError::invalid_data(event_type, err))?
        },
        Source::Json => quote! {
            ::aether::__private::serde_json::from_str::<__AetherData>(json)
                .map_err(|err| EventDecodeError::invalid_data(event_type, err))?
        },
    };
    let derive = quote! {
        #[derive(::aether::__private::serde::Deserialize)]
        #[serde(crate = "::aether::__private::serde")]
    };
    let body = match v.fields {
        Fields::Named(fields) => {
            let names: Vec<_> = fields.named.iter().map(|f| &f.ident).collect();
            let defs = fields.named.iter().map(|f| {
                let attrs = f.attrs.iter().filter(|a| is_serde(a));
                let (ident, ty) = (&f.ident, &f.ty);
                quote!(#(#attrs)* #ident: #ty)
            });
            quote! {
                #derive
                struct __AetherData { #(#defs,)* }
                let decoded = #decode;
                ::core::result::Result::Ok(#path { #(#names: decoded.#names,)* })
            }
        }
        Fields::Unnamed(fields) => {
            let field = &fields.unnamed[0];
            let attrs = field.attrs.iter().filter(|a| is_serde(a));
            let ty = &field.ty;
            quote! {
                #derive
                struct __AetherData(#(#attrs)* #ty);
                let decoded = #decode;
                ::core::result::Result::Ok(#path(decoded.0))
            }
        }
        Fields::Unit => {
            let shape_ok = match source {
                Source::Value => quote!(data.is_null() || data.is_object()),
                Source::Json => quote! {
                    ::aether::__private::serde_json::from_str::<
                        ::core::option::Option<Map<::std::string::String, Value>>,
                    >(json)
                    .is_ok()
                },
            };
            quote! {
                if #shape_ok {
                    ::core::result::Result::Ok(#path)
                } else {
                    ::core::result::Result::Err(EventDecodeError::invalid_data(
                        event_type,
                        "expected an object or null for an event without fields",
                    ))
                }
            }
        }
    };
    quote! { #name #(| #aliases)* => { #body } }
}

fn is_serde(attr: &Attribute) -> bool {
    attr.path().is_ident("serde")
}

/// An impl that compiles whatever the input was, so one mistake gives one error.
fn stub(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            use ::aether::__private::aether_runtime::{DomainEvent, EventDecodeError};
            use ::aether::__private::serde_json::Value;
            #[automatically_derived]
            impl DomainEvent for #ident {
                fn event_type(&self) -> &str { ::core::unreachable!() }
                fn to_data(&self) -> ::core::result::Result<Value, ::aether::__private::serde_json::Error> {
                    ::core::unreachable!()
                }
                fn from_data(_: &str, _: &Value) -> ::core::result::Result<Self, EventDecodeError> {
                    ::core::unreachable!()
                }
            }
        };
    }
}
