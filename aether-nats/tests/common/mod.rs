//! Shared test helpers: a fresh namespace per test, and the backend-reachability rule.
//!
//! Under `CI=true` a test that cannot reach NATS fails; elsewhere it is skipped with a
//! printed reason, so `cargo test` passes on a machine without a server.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aether_nats::{ConnectError, NatsStore};

/// The server the tests use: `$NATS_URL`, or the local default.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Fails the test under CI, prints why it is skipped otherwise.
pub fn backend_missing(reason: &str) {
    if under_ci() {
        panic!(
            "CI=true and NATS is not reachable at {}: {reason}",
            nats_url()
        );
    }
    eprintln!(
        "skipping: NATS is not reachable at {}: {reason}",
        nats_url()
    );
}

pub mod sweep;

const PREFIX: &str = sweep::TEST_PREFIX;

/// A namespace no other test uses: `test-<unix seconds>-<pid>-<n>`.
pub fn fresh_namespace() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{PREFIX}{secs}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on a fresh namespace, or `None` (after printing why) when NATS is not
/// reachable and `CI` is not `true`.
///
/// # Panics
///
/// When NATS is not reachable and `CI=true`.
pub async fn fresh_store() -> Option<NatsStore> {
    store_in(&fresh_namespace()).await
}

/// A store on the given namespace, with the reachability rule of [`fresh_store`].
pub async fn store_in(namespace: &str) -> Option<NatsStore> {
    let connected = NatsStore::builder(nats_url())
        .namespace(namespace)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    match connected {
        Ok(store) => {
            sweep_old_namespaces(&store).await;
            Some(store)
        }
        // Only a server that cannot be reached is a reason to skip; a reachable server
        // that refuses the setup is a failure everywhere.
        Err(err @ (ConnectError::Unreachable { .. } | ConnectError::Timeout { .. })) => {
            backend_missing(&err.to_string());
            None
        }
        Err(err) => panic!("NATS is reachable but the store cannot be set up: {err}"),
    }
}

/// Deletes the streams and buckets (the cluster's too) of test namespaces left by old
/// runs (the conformance macro gives no place to delete a test's own namespace), once per
/// test process; see [`sweep`].
async fn sweep_old_namespaces(store: &NatsStore) {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    sweep::sweep_old_test_streams(store.client()).await;
}
