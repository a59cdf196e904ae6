//! One hot actor under load (issue 15): many concurrent clients on one actor, two
//! runtimes writing it through one store (version conflicts), and a store that fails and
//! loses acknowledgements. Every acknowledged command is stored exactly once, the state
//! equals a replay, and the appends are fewer than the commands (they were batched).

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aether_core::testkit::{FaultyStore, StoreOp};
use aether_core::{EventStore, SnapshotStore};
use aether_runtime::{AskError, AskOptions, Runtime};
use common::{Account, Cmd, TestStore};

const CLIENTS_PER_RUNTIME: usize = 24;
const COMMANDS_PER_CLIENT: usize = 40;
const ACTOR: &str = "Account|hot";

fn runtime(store: Arc<FaultyStore<TestStore>>) -> Runtime {
    Runtime::builder(store)
        .idempotency_window(1_000_000)
        .conflict_retries(5)
        .build()
}

/// Sends each of its commands until one answer says it is stored; gives the ids it
/// knows are stored.
async fn client(runtime: Runtime, name: String) -> Vec<String> {
    let account = runtime.actor::<Account>("hot");
    let mut stored = Vec::new();
    for n in 0..COMMANDS_PER_CLIENT {
        let id = format!("{name}-{n}");
        for attempt in 0.. {
            assert!(attempt < 100, "{id} never went through");
            let options = AskOptions::new().command_id(id.clone());
            match account.ask_with(Cmd::Deposit(1), options).await {
                // Ok, or the first application of an id whose acknowledgement was lost.
                Ok(_) | Err(AskError::Duplicate { .. }) => {
                    stored.push(id);
                    break;
                }
                Err(AskError::Store { .. } | AskError::Conflict { .. }) => {}
                Err(other) => panic!("{id}: unexpected {other:?}"),
            }
        }
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_one_actor_store_every_acknowledged_command_once() {
    let store = Arc::new(
        FaultyStore::builder(TestStore::default())
            .seed(15)
            .fail(StoreOp::SaveEvents, 0.05)
            .lose_ack(StoreOp::SaveEvents, 0.05)
            .delay(
                StoreOp::SaveEvents,
                0.5,
                Duration::from_micros(100)..Duration::from_millis(2),
            )
            .build(),
    );
    let runtimes = [runtime(store.clone()), runtime(store.clone())];
    let mut clients = Vec::new();
    for (r, runtime) in runtimes.iter().enumerate() {
        for c in 0..CLIENTS_PER_RUNTIME {
            clients.push(tokio::spawn(client(runtime.clone(), format!("r{r}c{c}"))));
        }
    }
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    for runtime in &runtimes {
        runtime.shutdown().await;
    }
    store.stop_faults();
    assert!(
        store.stats().injected_errors() > 0,
        "the faults were exercised"
    );

    let events = store.inner().inner.get_events(ACTOR, 0).await.unwrap();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for event in &events {
        let id = event
            .command_id
            .as_deref()
            .expect("every command has an id");
        *per_id.entry(id).or_default() += 1;
    }
    for id in &acknowledged {
        assert_eq!(per_id.get(id.as_str()), Some(&1), "{id} stored once");
    }
    assert!(per_id.values().all(|&n| n == 1), "no id stored twice");
    assert_eq!(
        acknowledged.len(),
        2 * CLIENTS_PER_RUNTIME * COMMANDS_PER_CLIENT
    );
    assert_eq!(events.len(), acknowledged.len());
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=events.len() as i64).collect::<Vec<_>>()
    );

    // A fresh start sees exactly the stored history.
    let fresh = Runtime::new(store.clone() as Arc<dyn SnapshotStore>);
    let state = fresh.actor::<Account>("hot").ask(Cmd::Get).await.unwrap();
    assert_eq!(state, Account::replay(&events));
    assert_eq!(state.balance, events.len() as i64);
    fresh.shutdown().await;

    // Batched: far fewer appends reached the store than events it holds.
    let appends = store.inner().save_events_calls.load(Ordering::SeqCst);
    assert!(
        appends * 2 < events.len(),
        "{appends} appends for {} events",
        events.len()
    );
}
