//! `#[derive(DomainEvent)]`: event names, payload shapes, decoding errors.

use aether::{DomainEvent, EventDecodeError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Transfer {
    to: String,
    amount: u64,
}

#[derive(Debug, Clone, PartialEq, DomainEvent)]
enum AccountEvent {
    Deposited {
        amount: u64,
    },
    #[aether(rename = "AccountOpened")]
    Opened {
        owner: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Transferred(Transfer),
    Frozen,
    #[aether(rename = "Renamed")]
    NameChanged {
        #[serde(rename = "newName")]
        new_name: String,
    },
}

#[derive(Debug, Clone, PartialEq, DomainEvent)]
struct PriceChanged {
    cents: i64,
}

#[derive(Debug, Clone, PartialEq, DomainEvent)]
#[aether(rename = "Pinged")]
struct Ping;

#[derive(Debug, Clone, PartialEq, DomainEvent)]
struct Wrapped(Transfer);

fn round_trip<E: DomainEvent + PartialEq + std::fmt::Debug>(
    event: E,
    event_type: &str,
    data: Value,
) {
    assert_eq!(event.event_type(), event_type);
    assert_eq!(event.to_data().unwrap(), data);
    assert_eq!(E::from_data(event_type, &data).unwrap(), event);
    // Replay from a store that keeps JSON text decodes straight from it, the same way.
    assert_eq!(E::from_json(event_type, &data.to_string()).unwrap(), event);
}

#[test]
fn named_fields_become_a_json_object() {
    round_trip(
        AccountEvent::Deposited { amount: 100 },
        "Deposited",
        json!({"amount": 100}),
    );
}

#[test]
fn rename_sets_the_event_type() {
    round_trip(
        AccountEvent::Opened {
            owner: "ada".into(),
            note: None,
        },
        "AccountOpened",
        json!({"owner": "ada"}),
    );
    assert!(AccountEvent::from_data("Opened", &json!({"owner": "ada"}))
        .unwrap_err()
        .is_unknown_type());
}

#[test]
fn field_serde_attributes_apply_both_ways() {
    round_trip(
        AccountEvent::NameChanged {
            new_name: "b".into(),
        },
        "Renamed",
        json!({"newName": "b"}),
    );
    round_trip(
        AccountEvent::Opened {
            owner: "x".into(),
            note: Some("vip".into()),
        },
        "AccountOpened",
        json!({"owner": "x", "note": "vip"}),
    );
}

#[test]
fn newtype_variants_use_the_fields_own_object() {
    round_trip(
        AccountEvent::Transferred(Transfer {
            to: "b".into(),
            amount: 5,
        }),
        "Transferred",
        json!({"to": "b", "amount": 5}),
    );
    round_trip(
        Wrapped(Transfer {
            to: "c".into(),
            amount: 1,
        }),
        "Wrapped",
        json!({"to": "c", "amount": 1}),
    );
}

#[test]
fn unit_variants_are_empty_objects_and_decode_from_null() {
    round_trip(AccountEvent::Frozen, "Frozen", json!({}));
    assert_eq!(
        AccountEvent::from_data("Frozen", &Value::Null).unwrap(),
        AccountEvent::Frozen
    );
    assert!(AccountEvent::from_data("Frozen", &json!(3)).is_err());
    round_trip(Ping, "Pinged", json!({}));
}

#[test]
fn structs_are_events_named_after_the_struct() {
    round_trip(
        PriceChanged { cents: -5 },
        "PriceChanged",
        json!({"cents": -5}),
    );
}

#[test]
fn unknown_types_and_bad_payloads_are_told_apart() {
    let unknown = AccountEvent::from_data("Nope", &json!({})).unwrap_err();
    assert_eq!(unknown, EventDecodeError::unknown_type("Nope"));

    let bad = AccountEvent::from_data("Deposited", &json!({"amount": "lots"})).unwrap_err();
    assert!(!bad.is_unknown_type());
    assert_eq!(bad.event_type, "Deposited");
    assert!(bad.reason.contains("invalid type"), "{bad}");

    let missing = PriceChanged::from_data("PriceChanged", &json!({})).unwrap_err();
    assert!(
        missing.reason.contains("missing field `cents`"),
        "{missing}"
    );
    assert!(PriceChanged::from_data("Other", &json!({"cents": 1}))
        .unwrap_err()
        .is_unknown_type());
}

#[test]
fn extra_fields_are_ignored_for_forward_compatibility() {
    let event =
        AccountEvent::from_data("Deposited", &json!({"amount": 1, "currency": "EUR"})).unwrap();
    assert_eq!(event, AccountEvent::Deposited { amount: 1 });
}

/// Events as an older build stored them, read by this build.
#[derive(Debug, Clone, PartialEq, DomainEvent)]
enum Shipment {
    /// Called "Shipped", then "Sent", in older builds.
    #[aether(alias = "Shipped", alias = "Sent")]
    Dispatched {
        parcel: String,
        /// Added later: old events have none.
        #[serde(default)]
        carrier: String,
        /// Renamed from `qty`.
        #[serde(alias = "qty")]
        quantity: u32,
    },
}

#[test]
fn aliases_and_field_attributes_read_old_shapes() {
    let current = Shipment::Dispatched {
        parcel: "p-1".into(),
        carrier: String::new(),
        quantity: 2,
    };
    for old_name in ["Shipped", "Sent", "Dispatched"] {
        let old = json!({ "parcel": "p-1", "qty": 2 });
        assert_eq!(
            Shipment::from_data(old_name, &old).unwrap(),
            current,
            "{old_name}"
        );
    }
    // New events are stored under the current name and field names.
    assert_eq!(current.event_type(), "Dispatched");
    assert_eq!(
        current.to_data().unwrap(),
        json!({ "parcel": "p-1", "carrier": "", "quantity": 2 })
    );
    assert!(Shipment::from_data("Lost", &json!({}))
        .unwrap_err()
        .is_unknown_type());
}

/// `from_json` (decoding from stored text) accepts and refuses exactly what `from_data`
/// does, with the same kind of error.
#[test]
fn from_json_agrees_with_from_data() {
    let cases: [(&str, Value); 13] = [
        ("Deposited", json!({"amount": 5})),
        ("Deposited", json!([5])),
        ("Deposited", json!({"amount": -5})),
        ("Deposited", json!({"amount": "5"})),
        ("Deposited", json!({})),
        ("Deposited", json!(null)),
        ("AccountOpened", json!({"owner": "Ada", "extra": [1, 2]})),
        ("Transferred", json!({"to": "b", "amount": 1})),
        ("Frozen", json!(null)),
        ("Frozen", json!({"any": 1})),
        ("Frozen", json!([1])),
        ("Renamed", json!({"newName": "x"})),
        ("Nope", json!({})),
    ];
    for (event_type, data) in cases {
        let from_data = AccountEvent::from_data(event_type, &data);
        let from_json = AccountEvent::from_json(event_type, &data.to_string());
        match (&from_data, &from_json) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{event_type} {data}"),
            (Err(a), Err(b)) => assert_eq!(
                a.is_unknown_type(),
                b.is_unknown_type(),
                "{event_type} {data}: {a} / {b}"
            ),
            _ => panic!("{event_type} {data}: from_data {from_data:?}, from_json {from_json:?}"),
        }
    }
    assert!(AccountEvent::from_json("Deposited", "{not json").is_err());
}
