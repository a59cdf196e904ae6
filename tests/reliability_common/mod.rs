//! Shared by the reliability tests: the `Account` actor, decoding checks, store helpers.
#![allow(dead_code, unreachable_pub)]

pub mod ledger;
#[path = "../servers/mod.rs"]
pub mod servers;

use std::collections::BTreeMap;

use aether_core::{Event, SnapshotStore};
use ledger::Account;

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
        let state: Account = serde_json::from_value(snapshot.state.clone()).unwrap();
        assert_eq!(
            state,
            Account::replay(&upto),
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

/// No command id applied twice, counted directly: the stored events carrying each id are
/// exactly one application's worth (`worth[id]`, the events its command makes). Returns
/// how many ids were checked.
pub fn assert_each_id_applied_once(
    actor_id: &str,
    events: &[Event],
    worth: &std::collections::HashMap<String, usize>,
) -> usize {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        if let Some(id) = &e.command_id {
            *counts.entry(id).or_default() += 1;
        }
    }
    for (id, count) in &counts {
        let one = worth
            .get(*id)
            .unwrap_or_else(|| panic!("{actor_id}: command id {id:?} was never sent"));
        assert_eq!(
            count, one,
            "{actor_id}: command id {id:?}: {count} events stored, one application is {one}: applied more than once"
        );
    }
    counts.len()
}

/// PostgreSQL for tests: `AETHER_POSTGRES_URL` or the local server (see
/// [`servers::pg_url`]). `None` (with a printed reason) when it cannot be reached,
/// unless `CI` is set: then the test fails.
pub fn pg_url() -> Option<String> {
    let url = servers::pg_url();
    let host = url
        .rsplit('@')
        .next()
        .and_then(|h| h.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&host)
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_owned()))
        .and_then(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
                .map_err(|e| e.to_string())
        });
    match reachable {
        Ok(_) => Some(url),
        Err(err) => {
            servers::unreachable(&format!("PostgreSQL at {url}"), err);
            None
        }
    }
}

/// A schema name no other test uses, with the time it was made, so that
/// [`servers::pg_sweep`] can drop it if a killed run leaves it behind.
pub fn fresh_schema(prefix: &str) -> String {
    servers::unique_name(prefix)
}
