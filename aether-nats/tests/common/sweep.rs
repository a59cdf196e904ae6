//! Deleting what killed or failed test runs left on the NATS server: the streams of test
//! namespaces (`test-<unix seconds>-…`) made more than [`SWEEP_AGE_SECS`] ago. Used by
//! the `aether-nats` tests and, through `#[path]`, by the `aether-cluster` tests.
//!
//! A namespace `ns` leaves the store's stream `aether_<ns>_events` and buckets (streams
//! `KV_aether_<ns>_snapshots`, `KV_aether_<ns>_checkpoints`), and a cluster on it the
//! buckets `KV_aether_<ns>_members` and `KV_aether_<ns>_cluster`: all are swept.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;

/// The test namespaces' prefix.
pub const TEST_PREFIX: &str = "test-";

/// Leftovers older than this belong to no running test (a CI run takes under 30 minutes).
pub const SWEEP_AGE_SECS: u64 = 3_600;

/// The suffixes of the streams a namespace's store and cluster make.
const SUFFIXES: &[&str] = &[
    "_events",
    "_snapshots",
    "_checkpoints",
    "_members",
    "_cluster",
];

/// The namespace of a stream the store or the cluster made, if it is a test namespace.
pub fn test_namespace(stream: &str) -> Option<&str> {
    let rest = stream.strip_prefix("KV_").unwrap_or(stream);
    let rest = rest.strip_prefix("aether_")?;
    let namespace = SUFFIXES.iter().find_map(|s| rest.strip_suffix(s))?;
    namespace.starts_with(TEST_PREFIX).then_some(namespace)
}

/// When a test namespace was made: the seconds after [`TEST_PREFIX`].
pub fn namespace_secs(namespace: &str) -> Option<u64> {
    namespace
        .strip_prefix(TEST_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Deletes every stream of a test namespace made more than [`SWEEP_AGE_SECS`] ago;
/// returns how many it deleted. Best effort: a stream that cannot be deleted is skipped.
pub async fn sweep_old_test_streams(client: &async_nats::Client) -> usize {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let js = async_nats::jetstream::new(client.clone());
    let mut names = js.stream_names();
    let mut old = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        let age_known = test_namespace(&name)
            .and_then(namespace_secs)
            .is_some_and(|secs| secs + SWEEP_AGE_SECS < now);
        if age_known {
            old.push(name);
        }
    }
    let mut deleted = 0;
    for name in old {
        if js.delete_stream(&name).await.is_ok() {
            deleted += 1;
        }
    }
    deleted
}

#[test]
fn only_old_test_namespaces_streams_are_recognised() {
    assert_eq!(
        test_namespace("KV_aether_test-1-a_members"),
        Some("test-1-a")
    );
    assert_eq!(
        test_namespace("KV_aether_test-1-a_cluster"),
        Some("test-1-a")
    );
    assert_eq!(
        test_namespace("aether_test-1-2-3_events"),
        Some("test-1-2-3")
    );
    assert_eq!(test_namespace("KV_aether_shop_members"), None);
    assert_eq!(test_namespace("KV_other_test-1_members"), None);
    assert_eq!(test_namespace("aether_test-1_orders"), None);
    assert_eq!(
        namespace_secs("test-1700000000-route-7-0"),
        Some(1_700_000_000)
    );
    assert_eq!(namespace_secs("test-route-1"), None);
}
