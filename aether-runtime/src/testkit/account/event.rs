//! [`AccountEvent`], what an account records, and its encoding as stored events.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{DomainEvent, EventDecodeError};

/// What an [`Account`](super::Account) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEvent {
    /// The account was opened. Stored as `"Opened"` with `{}`.
    Opened,
    /// Money came in. Stored as `"Deposited"` with `{"amount": n}`.
    Deposited {
        /// The amount (never negative when this actor decided it).
        amount: i64,
    },
    /// Money went out. Stored as `"Withdrawn"` with `{"amount": n}`.
    Withdrawn {
        /// The amount (never negative when this actor decided it).
        amount: i64,
    },
    /// Changes nothing, but `apply` panics on it while `tag` is
    /// [`poison`](super::poison)ed (after half-mutating the state, so a runtime that kept
    /// that state would be caught). Stored as `"Poison"` with `{"tag": n}`.
    Poison {
        /// Which [`poison`](super::poison) call it answers to.
        tag: u64,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &str {
        match self {
            AccountEvent::Opened => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
            AccountEvent::Poison { .. } => "Poison",
        }
    }

    fn to_data(&self) -> Result<Value, serde_json::Error> {
        Ok(match self {
            AccountEvent::Opened => json!({}),
            AccountEvent::Deposited { amount } | AccountEvent::Withdrawn { amount } => {
                json!({ "amount": amount })
            }
            AccountEvent::Poison { tag } => json!({ "tag": tag }),
        })
    }

    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        let field = |name: &str| {
            data.as_object()
                .ok_or_else(|| EventDecodeError::invalid_data(event_type, "data is not an object"))
                .and_then(|object| {
                    object.get(name).ok_or_else(|| {
                        EventDecodeError::invalid_data(event_type, format!("no {name}"))
                    })
                })
        };
        let amount = || {
            field("amount")?.as_i64().ok_or_else(|| {
                EventDecodeError::invalid_data(event_type, "amount is not an integer")
            })
        };
        match event_type {
            "Opened" => Ok(AccountEvent::Opened),
            "Deposited" => Ok(AccountEvent::Deposited { amount: amount()? }),
            "Withdrawn" => Ok(AccountEvent::Withdrawn { amount: amount()? }),
            "Poison" => Ok(AccountEvent::Poison {
                tag: field("tag")?.as_u64().ok_or_else(|| {
                    EventDecodeError::invalid_data(event_type, "tag is not an unsigned integer")
                })?,
            }),
            other => Err(EventDecodeError::unknown_type(other)),
        }
    }

    /// Straight from the stored text, as `#[derive(Event)]` does (no `Value`).
    fn from_json(event_type: &str, json: &str) -> Result<Self, EventDecodeError> {
        #[derive(Deserialize)]
        struct Amount {
            amount: i64,
        }
        #[derive(Deserialize)]
        struct Tag {
            tag: u64,
        }
        let invalid = |err: serde_json::Error| EventDecodeError::invalid_data(event_type, err);
        // serde reads a struct from a JSON array too; `from_data` wants an object.
        let object = json.trim_start().starts_with('{');
        match event_type {
            "Opened" => Ok(AccountEvent::Opened),
            "Deposited" | "Withdrawn" | "Poison" if !object => Err(EventDecodeError::invalid_data(
                event_type,
                "data is not an object",
            )),
            "Deposited" => serde_json::from_str::<Amount>(json)
                .map(|a| AccountEvent::Deposited { amount: a.amount })
                .map_err(invalid),
            "Withdrawn" => serde_json::from_str::<Amount>(json)
                .map(|a| AccountEvent::Withdrawn { amount: a.amount })
                .map_err(invalid),
            "Poison" => serde_json::from_str::<Tag>(json)
                .map(|t| AccountEvent::Poison { tag: t.tag })
                .map_err(invalid),
            other => Err(EventDecodeError::unknown_type(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_encoding() {
        for event in [
            AccountEvent::Opened,
            AccountEvent::Deposited { amount: 3 },
            AccountEvent::Withdrawn { amount: 2 },
            AccountEvent::Poison { tag: 7 },
        ] {
            let data = event.to_data().unwrap();
            assert_eq!(
                AccountEvent::from_data(event.event_type(), &data).unwrap(),
                event
            );
        }
        assert!(AccountEvent::from_data("Deposited", &json!("x")).is_err());
        assert!(AccountEvent::from_data("Deposited", &json!({ "amount": "1" })).is_err());
        assert!(AccountEvent::from_data("Nope", &json!({}))
            .unwrap_err()
            .is_unknown_type());
    }
}
