//! Stored actor ids: `"{ACTOR_TYPE}|{id}"`.

use crate::EventSourced;

/// The separator between actor type and id in stored actor ids: `"{ACTOR_TYPE}|{id}"`.
pub const ACTOR_ID_SEPARATOR: char = '|';

/// The stored actor id of actor `id` of type `A`: `"{A::ACTOR_TYPE}|{id}"`.
///
/// Two actor types with the same id therefore never share a history. Actor type names
/// may not contain `|`, so the mapping cannot collide; ids may contain anything.
pub fn stored_actor_id<A: EventSourced>(id: &str) -> String {
    let mut stored = String::with_capacity(A::ACTOR_TYPE.len() + 1 + id.len());
    stored.push_str(A::ACTOR_TYPE);
    stored.push(ACTOR_ID_SEPARATOR);
    stored.push_str(id);
    stored
}

/// The id given to `Runtime::actor`, from a stored id made by [`stored_actor_id`].
pub(crate) fn plain_id<A: EventSourced>(stored_id: &str) -> &str {
    stored_id
        .get(A::ACTOR_TYPE.len() + ACTOR_ID_SEPARATOR.len_utf8()..)
        .unwrap_or_default()
}
