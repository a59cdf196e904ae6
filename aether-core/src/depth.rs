//! How deeply a payload nests arrays and objects, and how deeply a store accepts:
//! [`MAX_PAYLOAD_DEPTH`], [`json_depth`], [`check_payload_depth`].
//!
//! `serde_json` refuses to parse JSON text that nests arrays and objects more than 127
//! levels deep. A store that keeps an event's data as JSON text, or inside a larger JSON
//! document (the event's own object, a batch's array), could accept a deeper payload and
//! then fail to read the history back. So every store refuses, at save, an event whose
//! data nests deeper than [`MAX_PAYLOAD_DEPTH`] ([`validate_batch`](crate::validate_batch)
//! checks it, with nothing written), and the runtime refuses to record such an event.
//!
//! ```
//! use aether_core::{check_payload_depth, json_depth, MAX_PAYLOAD_DEPTH};
//! use serde_json::json;
//!
//! assert_eq!(json_depth(&json!(1)), 0);
//! assert_eq!(json_depth(&json!({ "items": [1, 2] })), 2);
//!
//! let deep = (0..MAX_PAYLOAD_DEPTH).fold(json!(1), |inner, _| json!([inner]));
//! assert!(check_payload_depth(&deep).is_ok()); // at the limit
//! let too_deep = json!({ "n": deep });
//! assert_eq!(check_payload_depth(&too_deep).unwrap_err().limit, MAX_PAYLOAD_DEPTH);
//! ```

use serde_json::Value;

/// How many levels of arrays and objects an event's data may nest (as [`json_depth`]
/// counts them: `{"a": [1]}` is 2 levels deep).
///
/// `serde_json` parses at most 127 levels, and stores wrap the data in more: the event's
/// own object, a batch's array (the NATS store), so the stores of this repository read
/// back at most 125 levels of data. 100 leaves room for such wrappers (a third-party
/// store's, a tool's), so that a payload a store accepts always reads back.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// A payload nests arrays and objects deeper than [`MAX_PAYLOAD_DEPTH`].
///
/// Stores report it as [`StoreError::InvalidInput`](crate::StoreError::InvalidInput)
/// naming the actor and version (its text is the error's reason); nothing is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error(
    "the data nests arrays and objects more than {limit} levels deep, which a store cannot \
     read back (limit aether_core::MAX_PAYLOAD_DEPTH): flatten the payload"
)]
#[non_exhaustive]
pub struct PayloadTooDeep {
    /// The limit the payload exceeds ([`MAX_PAYLOAD_DEPTH`]).
    pub limit: usize,
}

/// How many levels of arrays and objects `value` nests: 0 for a scalar, 1 for `{}`,
/// `[1, 2]` or `{"a": 1}`, 2 for `{"a": [1]}`.
///
/// Walks the value with a loop and a list of its own instead of recursion, so any depth
/// is measured without exhausting the thread's stack; O(size) time, and no allocation
/// unless some array or object holds two or more arrays or objects.
pub fn json_depth(value: &Value) -> usize {
    deepest(value, usize::MAX)
}

/// Refuses a payload that nests deeper than [`MAX_PAYLOAD_DEPTH`].
///
/// Stops at the first array or object found beyond the limit; otherwise as
/// [`json_depth`]: O(size), no recursion, and for the usual shallow payload no
/// allocation. [`validate_batch`](crate::validate_batch) calls it on every event's data.
///
/// # Errors
///
/// [`PayloadTooDeep`] when `value` is deeper than [`MAX_PAYLOAD_DEPTH`].
pub fn check_payload_depth(value: &Value) -> Result<(), PayloadTooDeep> {
    if deepest(value, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH {
        Err(PayloadTooDeep {
            limit: MAX_PAYLOAD_DEPTH,
        })
    } else {
        Ok(())
    }
}

/// The depth of `value`, or the first depth found beyond `stop_above`.
fn deepest(value: &Value, stop_above: usize) -> usize {
    if !is_container(value) {
        return 0;
    }
    let mut deepest = 0;
    // The container to look into next (the first nested one of the last container looked
    // into, so a chain of single nestings never touches `later`), and the others.
    let mut next = Some((value, 1));
    let mut later: Vec<(&Value, usize)> = Vec::new();
    while let Some((container, depth)) = next.take().or_else(|| later.pop()) {
        deepest = deepest.max(depth);
        if deepest > stop_above {
            break;
        }
        match container {
            Value::Array(items) => queue(items.iter(), depth + 1, &mut next, &mut later),
            Value::Object(map) => queue(map.values(), depth + 1, &mut next, &mut later),
            _ => {}
        }
    }
    deepest
}

/// Queues the arrays and objects among `children`, at `depth`: the first one as `next`
/// if that is free, the others in `later`.
fn queue<'a>(
    children: impl Iterator<Item = &'a Value>,
    depth: usize,
    next: &mut Option<(&'a Value, usize)>,
    later: &mut Vec<(&'a Value, usize)>,
) {
    for child in children.filter(|child| is_container(child)) {
        if next.is_none() {
            *next = Some((child, depth));
        } else {
            later.push((child, depth));
        }
    }
}

fn is_container(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}
