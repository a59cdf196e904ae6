//! The layout of a namespace in JetStream ([`Layout`]: its stream, subjects and bucket),
//! and how actor ids become NATS subject tokens and key-value keys, and back.
//!
//! A NATS subject is a list of tokens separated by `.`; a token must not be empty and must
//! not hold `.`, `*`, `>` or whitespace. Key-value keys are narrower still
//! (`[-/_=.A-Za-z0-9]`). Actor ids are arbitrary non-empty strings, so every id is
//! escaped into a token made only of `[A-Za-z0-9_-]`:
//!
//! - ASCII letters, digits and `-` stand for themselves;
//! - every other byte of the id's UTF-8 form, `_` included, becomes `_` followed by two
//!   upper-case hex digits (`.` is `_2E`, `_` is `_5F`, `é` is `_C3_A9`).
//!
//! The encoding is injective (two ids never share a token: `_` only ever starts an
//! escape, so the token splits back into its pieces one way only) and [`decode_actor_id`]
//! inverts it exactly. Readable ids stay readable: `account-1` is the token `account-1`,
//! `order/7` is `order_2F7`.
//!
//! ```
//! use aether_nats::subject::{decode_actor_id, encode_actor_id};
//!
//! assert_eq!(encode_actor_id("a.b").unwrap(), "a_2Eb");
//! assert_eq!(encode_actor_id("a_2E_b").unwrap(), "a_5F2E_5Fb");
//! assert_eq!(decode_actor_id("a_2Eb").as_deref(), Some("a.b"));
//! assert!(encode_actor_id("").is_none());
//! ```

use crate::ConnectError;

/// The longest token [`encode_actor_id`] produces. Longer ids are refused, so that a
/// subject always fits in the server's default 4 KiB protocol line with room to spare.
pub const MAX_TOKEN_LEN: usize = 1024;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether a byte stands for itself in a token.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

/// Encodes an actor id as a subject token (and key-value key).
///
/// Returns `None` for an empty id, and for an id whose token would be longer than
/// [`MAX_TOKEN_LEN`].
pub fn encode_actor_id(actor_id: &str) -> Option<String> {
    if actor_id.is_empty() {
        return None;
    }
    let mut token = String::with_capacity(actor_id.len());
    for &byte in actor_id.as_bytes() {
        if is_plain(byte) {
            token.push(byte as char);
        } else {
            token.push('_');
            token.push(HEX[usize::from(byte >> 4)] as char);
            token.push(HEX[usize::from(byte & 0x0F)] as char);
        }
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
    }
    Some(token)
}

/// Decodes a token made by [`encode_actor_id`] back into the actor id.
///
/// Returns `None` for anything [`encode_actor_id`] cannot have produced: an empty token, a
/// character outside `[A-Za-z0-9_-]`, a broken or lower-case escape, an escape of a byte
/// that needs none, or bytes that are not UTF-8.
pub fn decode_actor_id(token: &str) -> Option<String> {
    if token.is_empty() {
        return None;
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if is_plain(byte) {
            out.push(byte);
            i += 1;
        } else if byte == b'_' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            let decoded = (hi << 4) | lo;
            if is_plain(decoded) {
                return None;
            }
            out.push(decoded);
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Whether `token` is a valid single NATS subject token: not empty, no `.`, `*`, `>` or
/// whitespace (and no control characters).
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| !matches!(c, '.' | '*' | '>') && !c.is_whitespace() && !c.is_control())
}

/// At most this many characters in a namespace.
const MAX_NAMESPACE_LEN: usize = 64;

/// The JetStream names one namespace uses.
///
/// For the namespace `orders`:
///
/// | what | name |
/// | --- | --- |
/// | events stream | `aether_orders_events` |
/// | its subjects | `aether.orders.events.*` |
/// | one actor's subject | `aether.orders.events.<token>` (see the module docs) |
/// | snapshot bucket (key-value) | `aether_orders_snapshots` (its stream: `KV_aether_orders_snapshots`) |
/// | one actor's snapshot key | `<token>` |
/// | checkpoint bucket (key-value, made on first use) | `aether_orders_checkpoints` |
/// | one projection's checkpoint key | the projection name escaped like an actor id |
///
/// ```
/// use aether_nats::Layout;
///
/// let layout = Layout::new("orders").unwrap();
/// assert_eq!(layout.events_stream(), "aether_orders_events");
/// assert_eq!(layout.event_subject("order/7").unwrap(), "aether.orders.events.order_2F7");
/// assert_eq!(layout.snapshot_bucket(), "aether_orders_snapshots");
/// assert_eq!(layout.checkpoint_bucket(), "aether_orders_checkpoints");
/// assert!(Layout::new("no.dots").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    namespace: String,
    events_stream: String,
    events_prefix: String,
    snapshot_bucket: String,
    checkpoint_bucket: String,
}

impl Layout {
    /// The layout of `namespace`: 1 to 64 characters of `[A-Za-z0-9_-]`, since it is part
    /// of a stream name, a subject token and a bucket name.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidNamespace`] for any other namespace.
    pub fn new(namespace: &str) -> Result<Self, ConnectError> {
        let invalid = |reason: &str| ConnectError::InvalidNamespace {
            namespace: namespace.to_owned(),
            reason: reason.to_owned(),
        };
        if namespace.is_empty() {
            return Err(invalid("a namespace must not be empty"));
        }
        if namespace.len() > MAX_NAMESPACE_LEN {
            return Err(invalid("a namespace has at most 64 characters"));
        }
        if !namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "a namespace may hold only ASCII letters, digits, '_' and '-'",
            ));
        }
        Ok(Layout {
            namespace: namespace.to_owned(),
            events_stream: format!("aether_{namespace}_events"),
            events_prefix: format!("aether.{namespace}.events."),
            snapshot_bucket: format!("aether_{namespace}_snapshots"),
            checkpoint_bucket: format!("aether_{namespace}_checkpoints"),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name of the stream that holds the namespace's events.
    pub fn events_stream(&self) -> &str {
        &self.events_stream
    }

    /// The subject filter of the events stream: `aether.<namespace>.events.*`.
    pub fn events_subjects(&self) -> String {
        format!("{}*", self.events_prefix)
    }

    /// The subject of one actor's events, or `None` if the id is empty or too long to
    /// encode (see the module docs).
    pub fn event_subject(&self, actor_id: &str) -> Option<String> {
        encode_actor_id(actor_id).map(|token| format!("{}{token}", self.events_prefix))
    }

    /// The name of the key-value bucket that holds the namespace's snapshots.
    pub fn snapshot_bucket(&self) -> &str {
        &self.snapshot_bucket
    }

    /// The name of the key-value bucket that holds the namespace's projection
    /// checkpoints (made on first use, see the crate docs' "Feed" section).
    pub fn checkpoint_bucket(&self) -> &str {
        &self.checkpoint_bucket
    }

    /// The events subjects' common prefix, `aether.<namespace>.events.`.
    pub(crate) fn events_prefix(&self) -> &str {
        &self.events_prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(encode_actor_id("account-1").unwrap(), "account-1");
        assert_eq!(encode_actor_id("order/7").unwrap(), "order_2F7");
        assert_eq!(encode_actor_id("é").unwrap(), "_C3_A9");
    }

    #[test]
    fn non_canonical_tokens_are_refused() {
        for token in ["", "_2e", "_41", "_", "_4", "a.b", "a b", "_FF"] {
            assert_eq!(decode_actor_id(token), None, "{token:?}");
        }
    }

    #[test]
    fn long_ids_are_refused() {
        assert!(encode_actor_id(&"a".repeat(MAX_TOKEN_LEN)).is_some());
        assert!(encode_actor_id(&"a".repeat(MAX_TOKEN_LEN + 1)).is_none());
        assert!(encode_actor_id(&".".repeat(MAX_TOKEN_LEN / 3 + 1)).is_none());
    }
}
