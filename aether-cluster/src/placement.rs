//! Placement: an actor's shard, and a shard's owner among the placed members
//! (rendezvous hashing).
//!
//! Both functions are pure and use their own hash (FNV-1a, then a SplitMix64 finaliser),
//! never `std`'s `DefaultHasher`, whose output may change between Rust releases: every
//! member, whatever it was built with, must compute the same owner.

/// The default number of shards (the Go seed's 1,024).
pub const DEFAULT_SHARD_COUNT: u32 = 1_024;

/// The shard of actor `id` of type `actor_type`, in `0..shard_count`.
///
/// ```
/// use aether_cluster::shard_of;
///
/// let shard = shard_of("Account", "ada", 1_024);
/// assert!(shard < 1_024);
/// assert_eq!(shard, shard_of("Account", "ada", 1_024)); // stable
/// ```
///
/// A `shard_count` of 0 is treated as 1.
pub fn shard_of(actor_type: &str, id: &str, shard_count: u32) -> u32 {
    let mut hash = fnv1a(FNV_OFFSET, actor_type.as_bytes());
    // The separator of stored ids: ("ab", "c") and ("a", "bc") differ.
    hash = fnv1a(hash, b"|");
    hash = fnv1a(hash, id.as_bytes());
    (mix(hash) % u64::from(shard_count.max(1))) as u32
}

/// The owner of `shard` among `members` (rendezvous, or highest-random-weight, hashing):
/// the member whose `(member, shard)` weight is highest. `None` when `members` is empty.
///
/// When a member joins, only the shards it now wins move (to it); when a member leaves,
/// only its shards move, each to the member with the next-highest weight. So a change of
/// one member moves about `1/n` of the shards, and no shard moves between two members
/// that both stay.
///
/// ```
/// use aether_cluster::owner_of;
///
/// let members = ["node-a".to_owned(), "node-b".to_owned(), "node-c".to_owned()];
/// let owner = owner_of(17, &members).unwrap().to_owned();
/// // Removing a member that does not own shard 17 leaves it where it was.
/// let other = members.iter().find(|m| **m != owner).unwrap();
/// let fewer: Vec<String> = members.iter().filter(|m| *m != other).cloned().collect();
/// assert_eq!(owner_of(17, &fewer), Some(owner.as_str()));
/// ```
pub fn owner_of(shard: u32, members: &[String]) -> Option<&str> {
    members
        .iter()
        .max_by_key(|member| (weight(member, shard), member.as_str()))
        .map(String::as_str)
}

/// The weight of `member` for `shard`.
fn weight(member: &str, shard: u32) -> u64 {
    let hash = fnv1a(FNV_OFFSET, member.as_bytes());
    mix(hash ^ mix(u64::from(shard).wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// SplitMix64's finaliser: spreads FNV's low-entropy high bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    #[test]
    fn shards_spread_evenly() {
        let mut counts = vec![0u32; 16];
        for i in 0..16_000 {
            counts[shard_of("Account", &format!("acct-{i}"), 16) as usize] += 1;
        }
        // 1,000 expected per shard.
        assert!(
            counts.iter().all(|c| (800..1_200).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn owners_spread_evenly_and_move_minimally() {
        let three = names(3);
        let mut owned = [0u32; 3];
        for shard in 0..1_024 {
            let owner = owner_of(shard, &three).unwrap();
            owned[three.iter().position(|m| m == owner).unwrap()] += 1;
        }
        assert!(owned.iter().all(|c| (250..420).contains(c)), "{owned:?}");
        // A fourth member takes shards only for itself.
        let four = names(4);
        let mut moved = 0;
        for shard in 0..1_024 {
            let before = owner_of(shard, &three).unwrap();
            let after = owner_of(shard, &four).unwrap();
            if before != after {
                assert_eq!(after, "node-3");
                moved += 1;
            }
        }
        assert!((180..340).contains(&moved), "{moved}");
        assert_eq!(owner_of(5, &[]), None);
    }

    #[test]
    fn the_type_separates_ids() {
        assert_ne!(
            (0..64)
                .map(|i| shard_of("ab", &format!("c{i}"), 1_024))
                .collect::<Vec<_>>(),
            (0..64)
                .map(|i| shard_of("a", &format!("bc{i}"), 1_024))
                .collect::<Vec<_>>()
        );
    }
}
