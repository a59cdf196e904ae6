//! Shared by the reliability tests: the `Ledger` actor, decoding checks, store helpers.
#![allow(dead_code, unreachable_pub)]

pub mod ledger;

use std::collections::BTreeMap;

use aether_core::{Event, SnapshotStore};
use ledger::Ledger;

/// Checks the stored history of one actor: versions strictly increase, each command id's
/// events form one contiguous run of versions (one command, applied once), and the latest
/// snapshot equals a replay of the events up to its version.
pub async fn check_history<S: SnapshotStore + ?Sized>(store: &S, actor_id: &str) -> Vec<Event> {
    let events = store.get_events(actor_id, 0).await.unwrap();
    for pair in events.windows(2) {
        assert!(
            pair[0].version < pair[1].version,
            "{actor_id}: versions increase"
        );
    }
    check_command_ids(&events);
    if let Some(snapshot) = store.get_latest_snapshot(actor_id).await.unwrap() {
        let upto: Vec<Event> = events
            .iter()
            .filter(|e| e.version <= snapshot.version)
            .cloned()
            .collect();
        let state: Ledger = serde_json::from_value(snapshot.state.clone()).unwrap();
        assert_eq!(
            state,
            Ledger::replay(&upto),
            "{actor_id}: snapshot at {} == replay up to it",
            snapshot.version
        );
    }
    events
}

/// Each command id appears in exactly one command's events: one contiguous run.
pub fn check_command_ids(events: &[Event]) {
    let mut runs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(id) = &e.command_id {
            runs.entry(id).or_default().push(i);
        }
    }
    for (id, positions) in runs {
        let contiguous = positions.windows(2).all(|w| w[1] == w[0] + 1);
        assert!(
            contiguous,
            "command id {id:?} appears in more than one command's events (positions {positions:?})"
        );
    }
}

/// PostgreSQL for tests: `AETHER_TEST_PG` or the local server. `None` (with a printed
/// reason) when it cannot be reached, unless `CI` is set: then the test fails.
pub fn pg_url() -> Option<String> {
    let url = std::env::var("AETHER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let host = url
        .rsplit('@')
        .next()
        .and_then(|h| h.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&host)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|addr| std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5)));
    match reachable {
        Some(Ok(_)) => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI: PostgreSQL at {url} is unreachable")
        }
        _ => {
            eprintln!("skipped: PostgreSQL at {url} is unreachable (set CI=true to fail instead)");
            None
        }
    }
}

/// A schema name no other test uses.
pub fn fresh_schema(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
