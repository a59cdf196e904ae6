//! The shared test servers, one variable each, and cleaning up after tests on them.
//!
//! - PostgreSQL: `AETHER_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//!   the same variable the `aether-postgres` tests read.
//! - NATS: `NATS_URL` (default `nats://127.0.0.1:4222`), as the `aether-nats` tests.
//!
//! Every schema or namespace a test makes is named `<prefix>_<unix seconds>_<pid>_<n>`
//! (NATS: `test-<unix seconds>-<pid>-<n>-<label>`, the `aether-nats` tests' form) and held
//! by a guard that drops it when the test ends, also when it fails. A run that is killed
//! leaves its names behind: [`pg_sweep`] drops the schemas of our prefixes made more than
//! [`SWEEP_AGE`] ago, once per test process (the `aether-nats` tests sweep namespaces the
//! same way).
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Leftovers older than this belong to no running test (CI runs in under 30 minutes).
pub const SWEEP_AGE: Duration = Duration::from_secs(2 * 3600);

/// The schema prefixes of the cross-crate tests, swept by [`pg_sweep`].
pub const PG_PREFIXES: &[&str] = &[
    "bad_input",
    "aether_rel_two",
    "aether_rel_crash",
    "aether_rel_loss",
    "aether_evolve",
    "aether_connect",
    "aether_cli",
    "aether_secrets",
];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `<prefix>_<unix seconds>_<pid>_<n>`: a name no other test uses, whose age a sweep can
/// read back.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        now_secs(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The creation time in a name made by [`unique_name`] with one of `prefixes`: the third
/// field from the end. (Older runs put the process id there: always long past.)
pub fn name_secs(name: &str, prefixes: &[&str]) -> Option<u64> {
    let rest = prefixes
        .iter()
        .find_map(|p| name.strip_prefix(p)?.strip_prefix('_'))?;
    let fields: Vec<&str> = rest.split('_').collect();
    if fields.len() != 3
        || !fields
            .iter()
            .all(|f| f.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    fields[0].parse().ok()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The reachability rule: under `CI=true` a test that cannot reach its server fails;
/// elsewhere it prints why and is skipped.
pub fn unreachable(what: &str, err: impl std::fmt::Display) {
    if in_ci() {
        panic!("CI=true and {what} is unreachable: {err}");
    }
    eprintln!("skipping: {what} is unreachable: {err} (set CI=true to fail instead)");
}

/// `AETHER_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn pg_url() -> String {
    std::env::var("AETHER_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `NATS_URL`, default `nats://127.0.0.1:4222`.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A NATS namespace no other test uses, in the `aether-nats` tests' swept form.
pub fn nats_namespace(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}-{}-{label}",
        now_secs(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `f` on a current-thread runtime of its own thread: usable from `Drop`, inside or
/// outside a tokio runtime.
fn blocking<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the cleanup")
            .block_on(f());
    })
    .join();
}

#[cfg(feature = "postgres")]
mod pg_impl {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{blocking, name_secs, now_secs, pg_url, PG_PREFIXES, SWEEP_AGE};

    fn quoted(schema: &str) -> String {
        format!("\"{}\"", schema.replace('"', "\"\""))
    }

    /// Drops the schema when dropped (also when the test panics).
    #[derive(Debug)]
    pub struct SchemaGuard(pub String);

    impl Drop for SchemaGuard {
        fn drop(&mut self) {
            let schema = self.0.clone();
            blocking(move || async move {
                match tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await {
                    Ok((client, connection)) => {
                        tokio::spawn(connection);
                        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(&schema));
                        if let Err(err) = client.batch_execute(&drop).await {
                            eprintln!("could not drop test schema {schema}: {err}");
                        }
                    }
                    Err(err) => eprintln!("could not drop test schema {schema}: {err}"),
                }
            });
        }
    }

    /// Drops the schemas of [`PG_PREFIXES`] older than [`SWEEP_AGE`], left by killed
    /// runs; once per process. Returns how many it dropped.
    pub async fn pg_sweep(client: &tokio_postgres::Client) -> usize {
        static SWEPT: AtomicBool = AtomicBool::new(false);
        if SWEPT.swap(true, Ordering::SeqCst) {
            return 0;
        }
        sweep_now(client, PG_PREFIXES, SWEEP_AGE.as_secs()).await
    }

    /// Drops the schemas of `prefixes` made more than `age_secs` ago.
    pub async fn sweep_now(
        client: &tokio_postgres::Client,
        prefixes: &[&str],
        age_secs: u64,
    ) -> usize {
        let Ok(rows) = client
            .query("SELECT nspname::text FROM pg_namespace", &[])
            .await
        else {
            return 0;
        };
        let cutoff = now_secs().saturating_sub(age_secs);
        let mut dropped = 0;
        for row in rows {
            let name: String = row.get(0);
            if name_secs(&name, prefixes).is_some_and(|secs| secs < cutoff) {
                let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(&name));
                if client.batch_execute(&drop).await.is_ok() {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            eprintln!("swept {dropped} test schemas left by earlier runs");
        }
        dropped
    }
}

#[cfg(feature = "postgres")]
#[allow(unused_imports)]
pub use pg_impl::{pg_sweep, sweep_now, SchemaGuard};

#[cfg(feature = "nats")]
mod nats_impl {
    use std::time::Duration;

    use aether::nats::NatsStore;

    use super::{blocking, nats_url};

    /// Deletes the NATS namespace (stream and bucket) when dropped, over a connection of
    /// its own (the test's may be gone, or tied to a runtime that is shutting down).
    #[derive(Debug)]
    pub struct NamespaceGuard(pub String);

    impl Drop for NamespaceGuard {
        fn drop(&mut self) {
            let namespace = self.0.clone();
            blocking(move || async move {
                let store = NatsStore::builder(nats_url())
                    .namespace(&namespace)
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await;
                let result = match store {
                    Ok(store) => store.delete_namespace().await.map_err(|e| e.to_string()),
                    Err(err) => Err(err.to_string()),
                };
                if let Err(err) = result {
                    eprintln!("could not delete test namespace {namespace}: {err}");
                }
            });
        }
    }
}

#[cfg(feature = "nats")]
#[allow(unused_imports)]
pub use nats_impl::NamespaceGuard;
