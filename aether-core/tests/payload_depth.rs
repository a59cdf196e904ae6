//! How deeply a payload nests (`json_depth`), the limit a store accepts
//! (`MAX_PAYLOAD_DEPTH`, `check_payload_depth`), and its check in `validate_batch`.

use aether_core::testkit::cases::event;
use aether_core::{
    check_payload_depth, json_depth, validate_batch, PayloadTooDeep, StoreError, MAX_PAYLOAD_DEPTH,
};
use serde_json::{json, Value};

/// `depth` arrays, one inside the other, around `1`.
fn chain(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| Value::Array(vec![inner]))
}

/// Takes a chain of arrays apart one level at a time: `serde_json`'s own drop recurses,
/// and would exhaust the stack on the very deep chains of these tests.
fn tear_down(mut value: Value) {
    while let Value::Array(mut items) = value {
        value = items.pop().unwrap_or(Value::Null);
    }
}

#[test]
fn depth_counts_levels_of_arrays_and_objects() {
    for scalar in [json!(null), json!(true), json!(7), json!("text")] {
        assert_eq!(json_depth(&scalar), 0, "{scalar} is a scalar");
    }
    assert_eq!(json_depth(&json!({})), 1);
    assert_eq!(json_depth(&json!([])), 1);
    assert_eq!(json_depth(&json!({ "a": 1, "b": "x" })), 1);
    assert_eq!(json_depth(&json!({ "a": [1] })), 2);
    assert_eq!(json_depth(&json!([[], {}, [[]]])), 3);
    // The deepest branch counts, wherever it is among its siblings.
    let wide = json!({
        "a": [1, 2, 3],
        "b": { "c": { "d": [ { "e": [] } ] } },
        "f": [{ "g": 1 }, { "h": 2 }],
    });
    assert_eq!(json_depth(&wide), 6);
    let last = json!([[1], [2], [[3]], [4], [[[[5]]]]]);
    assert_eq!(json_depth(&last), 5);
}

#[test]
fn depth_of_a_very_deep_payload_does_not_exhaust_the_stack() {
    let deep = chain(200_000);
    assert_eq!(json_depth(&deep), 200_000);
    let refused: Result<(), PayloadTooDeep> = check_payload_depth(&deep);
    assert_eq!(refused.map_err(|err| err.limit), Err(MAX_PAYLOAD_DEPTH));
    tear_down(deep);
}

#[test]
fn check_accepts_the_limit_and_refuses_one_level_more() {
    assert_eq!(check_payload_depth(&chain(MAX_PAYLOAD_DEPTH)), Ok(()));
    let err = check_payload_depth(&chain(MAX_PAYLOAD_DEPTH + 1)).unwrap_err();
    assert_eq!(err.limit, MAX_PAYLOAD_DEPTH);
    let text = err.to_string();
    assert!(
        text.contains(&MAX_PAYLOAD_DEPTH.to_string()) && text.contains("MAX_PAYLOAD_DEPTH"),
        "the message says the limit and where it is defined: {text}"
    );
    // A deep branch behind shallow siblings is found too.
    let hidden = json!({ "a": 1, "b": [1, 2], "c": [{ "d": chain(MAX_PAYLOAD_DEPTH - 2) }] });
    assert_eq!(json_depth(&hidden), MAX_PAYLOAD_DEPTH + 1);
    assert!(check_payload_depth(&hidden).is_err());
}

#[test]
fn validate_batch_refuses_deep_data_naming_actor_and_version() {
    let mut deep = event("deep-actor", 3);
    deep.data = chain(MAX_PAYLOAD_DEPTH + 1);
    for batch in [
        vec![deep.clone()],
        vec![event("deep-actor", 1), event("deep-actor", 2), deep],
    ] {
        match validate_batch(&batch) {
            Err(StoreError::InvalidInput {
                actor_id,
                version,
                reason,
            }) => {
                assert_eq!(actor_id, "deep-actor");
                assert_eq!(version, 3, "the version of the deep event");
                assert!(reason.contains(&MAX_PAYLOAD_DEPTH.to_string()), "{reason}");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    let mut at_limit = event("deep-actor", 1);
    at_limit.data = chain(MAX_PAYLOAD_DEPTH);
    assert_eq!(validate_batch(&[at_limit]).unwrap(), Some("deep-actor"));
}

/// The limit leaves room: data at the limit, inside its event, inside a batch's array,
/// still parses back with `serde_json`.
#[test]
fn data_at_the_limit_parses_back_inside_an_event_and_a_batch() {
    let mut at_limit = event("deep-actor", 1);
    at_limit.data = chain(MAX_PAYLOAD_DEPTH);
    let text = serde_json::to_string(&vec![at_limit.clone(), at_limit.clone()]).unwrap();
    let back: Vec<aether_core::Event> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, vec![at_limit.clone(), at_limit]);
}
