//! Upcasters: reading events stored in older shapes as today's.
//!
//! Stored events are immutable and live for years; the code that reads them changes.
//! An actor type's [`Upcasters`] ([`EventSourced::upcasters`]) are steps applied, in
//! order, to every stored event (its type name and JSON data) before it is decoded:
//! on rehydration, in [`decode_event`] (for tools and readers of stored events) and in
//! the test kit. A chain v1 → v2 → v3 is three steps, each written once, when its change
//! was made.
//!
//! Nothing is written back: the store keeps the old shape (a Go reader of the seed's
//! format still reads every event), and no schema version is stored, because the seed's
//! JSON has no field for one. A step recognises what it upcasts by the event type and,
//! where a type changed shape under one name, by the data itself (a field present or
//! missing).
//!
//! The common cases need no upcaster: a renamed variant takes
//! `#[aether(alias = "Old")]`, a renamed field `#[serde(alias = "old")]`, an added field
//! `#[serde(default)]`.
//!
//! ```
//! use aether_runtime::{StoredShape, Upcasters};
//! use serde_json::{json, Value};
//!
//! let upcasters = Upcasters::new()
//!     // v1 → v2: "ItemAdded" became "LineAdded".
//!     .rename("ItemAdded", "LineAdded")
//!     // v2 → v3: `price` "12.50" (a string) became `cents` 1250.
//!     .map_data("LineAdded", |mut data| {
//!         if let Some(Value::String(price)) = data.get("price").cloned() {
//!             let cents = (price.parse::<f64>().map_err(|e| e.to_string())? * 100.0).round();
//!             data["cents"] = json!(cents as u64);
//!             data.as_object_mut().expect("an object").remove("price");
//!         }
//!         Ok(data)
//!     });
//! let old = StoredShape::new("ItemAdded", json!({ "sku": "a-1", "price": "12.50" }));
//! let now = upcasters.upcast(old).unwrap();
//! assert_eq!(now, StoredShape::new("LineAdded", json!({ "sku": "a-1", "cents": 1250 })));
//! ```

use std::fmt;
use std::sync::Arc;

use aether_core::{Event, EventData, EventRef};
use serde_json::Value;

use crate::actor::{DomainEvent, EventDecodeError};
use crate::EventSourced;

/// A stored event before decoding: its type name and JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredShape {
    /// The stored `eventType`.
    pub event_type: String,
    /// The stored `data`.
    pub data: Value,
}

impl StoredShape {
    /// A shape from a type name and data.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        StoredShape {
            event_type: event_type.into(),
            data,
        }
    }
}

type Step = dyn Fn(StoredShape) -> Result<StoredShape, String> + Send + Sync;

/// An actor type's upcaster chain: steps applied in order to each stored event before
/// it is decoded. Cheap to clone. See the [module docs](self).
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: Vec<(String, Arc<Step>)>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Upcasters {
    /// No steps: events are decoded as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events stored as `from` are read as `to` (a type renamed, or removed and mapped to
    /// another).
    pub fn rename(self, from: &str, to: &str) -> Self {
        let (from, to) = (from.to_owned(), to.to_owned());
        let name = format!("rename {from:?} to {to:?}");
        self.push(name, move |mut shape| {
            if shape.event_type == from {
                shape.event_type.clone_from(&to);
            }
            Ok(shape)
        })
    }

    /// The data of events of type `event_type` goes through `f` (a field split, a unit
    /// changed, a default that depends on other fields). `f` sees every event of that
    /// type, old or new, so it changes only what is in the old shape. An `Err` stops the
    /// decoding with that message.
    pub fn map_data(
        self,
        event_type: &str,
        f: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        let event_type = event_type.to_owned();
        let name = format!("map the data of {event_type:?}");
        self.push(name, move |shape| {
            if shape.event_type != event_type {
                return Ok(shape);
            }
            Ok(StoredShape {
                data: f(shape.data)?,
                event_type: shape.event_type,
            })
        })
    }

    /// Any step, named for error messages.
    pub fn step(
        self,
        name: &str,
        f: impl Fn(StoredShape) -> Result<StoredShape, String> + Send + Sync + 'static,
    ) -> Self {
        self.push(name.to_owned(), f)
    }

    fn push(
        mut self,
        name: String,
        f: impl Fn(StoredShape) -> Result<StoredShape, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps.push((name, Arc::new(f)));
        self
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Applies every step in order.
    ///
    /// # Errors
    ///
    /// [`EventDecodeError`] naming the step that failed and its message.
    pub fn upcast(&self, shape: StoredShape) -> Result<StoredShape, EventDecodeError> {
        let stored_type = shape.event_type.clone();
        self.run(shape).map_err(|(step, reason)| {
            EventDecodeError::invalid_data(stored_type, format!("upcaster {step}: {reason}"))
        })
    }

    /// The steps in order; on failure, the failing step's name and message.
    fn run(&self, mut shape: StoredShape) -> Result<StoredShape, (&str, String)> {
        for (name, step) in &self.steps {
            shape = step(shape).map_err(|reason| (name.as_str(), reason))?;
        }
        Ok(shape)
    }

    /// Upcasts, then decodes into `E`. The error says what was tried: the stored type,
    /// and the type it was upcast to when that differs.
    ///
    /// # Errors
    ///
    /// [`EventDecodeError`] when a step fails or the result does not decode.
    pub fn decode<E: DomainEvent>(
        &self,
        event_type: &str,
        data: &Value,
    ) -> Result<E, EventDecodeError> {
        if self.is_empty() {
            return E::from_data(event_type, data);
        }
        self.decode_owned(StoredShape::new(event_type, data.clone()))
    }

    /// [`decode`](Self::decode) of a payload lent by a store ([`EventData`]): without
    /// steps it decodes straight from the lent value or JSON text; with steps the payload
    /// is copied into the chain, which may rewrite it.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode); also when lent JSON text does not parse.
    pub fn decode_lent<E: DomainEvent>(
        &self,
        event_type: &str,
        data: EventData<'_>,
    ) -> Result<E, EventDecodeError> {
        if self.is_empty() {
            return match data {
                EventData::Value(data) => E::from_data(event_type, data),
                EventData::Json(text) => E::from_json(event_type, text),
            };
        }
        let data = data
            .to_value()
            .map_err(|err| EventDecodeError::invalid_data(event_type, err))?;
        self.decode_owned(StoredShape::new(event_type, data))
    }

    /// [`decode`](Self::decode) of a shape the caller owns (no copy of the data).
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_owned<E: DomainEvent>(&self, stored: StoredShape) -> Result<E, EventDecodeError> {
        if self.is_empty() {
            return E::from_data(&stored.event_type, &stored.data);
        }
        let stored_type = stored.event_type.clone();
        let shape = self.run(stored).map_err(|(step, reason)| {
            EventDecodeError::invalid_data(&stored_type, format!("upcaster {step}: {reason}"))
        })?;
        E::from_data(&shape.event_type, &shape.data).map_err(|err| {
            if shape.event_type == stored_type {
                err
            } else {
                EventDecodeError::invalid_data(
                    stored_type,
                    format!("upcast to {:?}: {err}", shape.event_type),
                )
            }
        })
    }
}

/// Decodes a stored event into actor type `A`'s event, through `A`'s upcasters: what the
/// runtime does on rehydration, for tools and readers of stored events.
///
/// # Errors
///
/// [`EventDecodeError`] when the event does not decode (after upcasting).
pub fn decode_event<A: EventSourced>(event: &Event) -> Result<A::Event, EventDecodeError> {
    A::upcasters().decode(&event.event_type, &event.data)
}

/// [`decode_event`] of an event lent by a store ([`EventRef`]: from
/// [`visit_feed`](aether_core::EventFeed::visit_feed) or `replay_events`), decoded
/// straight from its stored JSON text when `A` has no upcasters: what a
/// [`FeedDecode`](aether_core::FeedDecode) type of a projection calls to get the actor's
/// own event.
///
/// `A::upcasters()` is built on every call; a decoder of many events of an actor type
/// with upcasters can keep the chain and call [`Upcasters::decode_lent`] instead.
///
/// # Errors
///
/// [`EventDecodeError`] when the event does not decode (after upcasting).
pub fn decode_event_ref<A: EventSourced>(
    event: &EventRef<'_>,
) -> Result<A::Event, EventDecodeError> {
    A::upcasters().decode_lent(event.event_type, event.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_apply_in_order_and_errors_name_the_step() {
        let chain = Upcasters::new()
            .rename("A", "B")
            .rename("B", "C")
            .map_data("C", |data| {
                if data.get("bad").is_some() {
                    Err("bad data".to_owned())
                } else {
                    Ok(json!({ "n": data["n"].as_i64().unwrap_or(0) + 1 }))
                }
            });
        let out = chain
            .upcast(StoredShape::new("A", json!({ "n": 1 })))
            .unwrap();
        assert_eq!(out, StoredShape::new("C", json!({ "n": 2 })));
        // Other types pass untouched.
        let other = StoredShape::new("Z", json!({ "n": 1 }));
        assert_eq!(chain.upcast(other.clone()).unwrap(), other);
        let err = chain
            .upcast(StoredShape::new("A", json!({ "bad": true })))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("upcaster map the data of \"C\": bad data"),
            "{err}"
        );
        assert_eq!(format!("{chain:?}").matches("rename").count(), 2);
    }

    /// An event type of one variant: `Counted { n }`.
    #[derive(Debug, PartialEq)]
    struct Counted(i64);

    impl DomainEvent for Counted {
        fn event_type(&self) -> &str {
            "Counted"
        }
        fn to_data(&self) -> Result<Value, serde_json::Error> {
            Ok(json!({ "n": self.0 }))
        }
        fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
            match (event_type, data["n"].as_i64()) {
                ("Counted", Some(n)) => Ok(Counted(n)),
                _ => Err(EventDecodeError::invalid_data(event_type, "not a Counted")),
            }
        }
    }

    #[test]
    fn lent_payloads_decode_as_owned_ones_with_and_without_steps() {
        let value = json!({ "n": 4 });
        let text = value.to_string();
        let lent = [EventData::Value(&value), EventData::Json(&text)];
        let none = Upcasters::new();
        let renamed = Upcasters::new()
            .rename("Old", "Counted")
            .map_data("Counted", |d| {
                Ok(json!({ "n": d["n"].as_i64().unwrap_or(0) * 10 }))
            });
        for data in lent {
            assert_eq!(
                none.decode_lent::<Counted>("Counted", data).unwrap(),
                Counted(4)
            );
            assert_eq!(
                renamed.decode_lent::<Counted>("Old", data).unwrap(),
                renamed.decode::<Counted>("Old", &value).unwrap()
            );
            assert_eq!(
                renamed.decode_lent::<Counted>("Old", data).unwrap(),
                Counted(40)
            );
        }
        let err = none
            .decode_lent::<Counted>("Counted", EventData::Json("{not json"))
            .unwrap_err();
        assert!(err.to_string().contains("Counted"), "{err}");
        assert!(renamed
            .decode_lent::<Counted>("Old", EventData::Json("{not json"))
            .is_err());
    }
}
