//! Property-style checks of the actor-id encoding: many random ids (dots, wildcards,
//! whitespace, unicode, escape look-alikes) round-trip, never collide, and always make
//! valid subject tokens and key-value keys.

use std::collections::HashMap;

use aether_nats::subject::{decode_actor_id, encode_actor_id, is_valid_token, MAX_TOKEN_LEN};

/// xorshift64*: a small deterministic generator, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALPHABET: &[char] = &[
    'a', 'b', 'A', 'Z', '0', '2', '9', 'E', 'F', '-', '_', '.', '*', '>', ' ', '\t', '\n', '\r',
    '%', '/', '\\', '$', '=', '~', '+', '|', ':', '#', '"', '\'', '\0', 'ü', 'é', '日', '🦀',
    '\u{00A0}', '\u{2028}', '\u{FEFF}',
];

fn random_id(rng: &mut Rng) -> String {
    let len = 1 + rng.below(16);
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn is_kv_key(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
}

#[test]
fn random_ids_round_trip_without_collisions() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen: HashMap<String, String> = HashMap::new();
    for _ in 0..50_000 {
        let id = random_id(&mut rng);
        let token = encode_actor_id(&id).expect("short non-empty ids encode");
        assert!(is_valid_token(&token), "{id:?} -> invalid token {token:?}");
        assert!(is_kv_key(&token), "{id:?} -> invalid key {token:?}");
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(decode_actor_id(&token).as_deref(), Some(id.as_str()));
        if let Some(other) = seen.insert(token.clone(), id.clone()) {
            assert_eq!(other, id, "{other:?} and {id:?} share the token {token:?}");
        }
    }
    assert!(
        seen.len() > 40_000,
        "the generator makes mostly distinct ids"
    );
}

#[test]
fn look_alike_ids_get_distinct_tokens() {
    let ids = [
        ".",
        "a.b",
        "a_b",
        "a-b",
        "a%2Eb",
        "a_2E_b",
        "a_2Eb",
        "a.*",
        "*",
        ">",
        "a>b",
        "a b",
        "a  b",
        "a\tb",
        "a\nb",
        "A",
        "a",
        "_",
        "__",
        "_5F",
        "-",
        "ünïcødé ✓",
        "日本語",
        "emoji 🦀",
    ];
    let tokens: Vec<String> = ids.iter().map(|id| encode_actor_id(id).unwrap()).collect();
    for (i, a) in tokens.iter().enumerate() {
        assert!(is_valid_token(a));
        for b in &tokens[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn empty_and_undecodable_tokens_are_refused_without_panicking() {
    assert_eq!(encode_actor_id(""), None);
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let garbage = random_id(&mut rng);
        if let Some(id) = decode_actor_id(&garbage) {
            // Whatever decodes must be canonical: it encodes back to the same token.
            assert_eq!(encode_actor_id(&id).as_deref(), Some(garbage.as_str()));
        }
    }
}
