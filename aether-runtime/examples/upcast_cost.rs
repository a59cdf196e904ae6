//! What upcasting costs on rehydration: 100,000 stored events replayed by an actor with
//! no upcasters (events in today's shape) and by one whose events are all in a v1 shape
//! that a 3-step chain turns into today's. Release build, `InMemoryStore`, no snapshots:
//!
//! ```text
//! cargo run --release -p aether-runtime --features testkit --example upcast_cost
//! ```

use std::sync::Arc;
use std::time::Instant;

use aether_core::{Event, EventStore, InMemoryStore};
use aether_runtime::testkit::account::{Account, AccountCommand, AccountError, AccountEvent};
use aether_runtime::{Decision, EventSourced, Runtime, Upcasters};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The same account, whose history an older build stored as
/// `Credited {"amt": "5"}` (v1), read through three steps.
#[derive(Debug, Default, Serialize, Deserialize)]
struct OldAccount(Account);

impl EventSourced for OldAccount {
    const ACTOR_TYPE: &'static str = "OldAccount";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Reply = Account;
    type Error = AccountError;

    fn decide(
        &self,
        command: &AccountCommand,
    ) -> Result<Decision<AccountEvent, Account>, AccountError> {
        self.0.decide(command)
    }

    fn apply(&mut self, event: &AccountEvent) {
        self.0.apply(event);
    }

    fn upcasters() -> Upcasters {
        Upcasters::new()
            // v1 → v2: the type was renamed.
            .rename("Credited", "Deposited")
            // v2 → v3: `amt` became `amount`.
            .map_data("Deposited", |mut data| {
                if let Some(fields) = data.as_object_mut() {
                    if let Some(amt) = fields.remove("amt") {
                        fields.insert("amount".to_owned(), amt);
                    }
                }
                Ok(data)
            })
            // v3 → v4: the amount was a string.
            .map_data("Deposited", |mut data| {
                if let Some(Value::String(text)) = data.get("amount").cloned() {
                    data["amount"] = json!(text.parse::<u64>().map_err(|e| e.to_string())?);
                }
                Ok(data)
            })
    }
}

const EVENTS: i64 = 100_000;
const ROUNDS: usize = 5;

fn history(actor_id: &str, event_type: &str, data: impl Fn(i64) -> Value) -> Vec<Event> {
    (1..=EVENTS)
        .map(|version| Event {
            id: format!("e-{version}"),
            event_type: event_type.to_owned(),
            actor_id: actor_id.to_owned(),
            command_id: None,
            version,
            data: data(version),
            timestamp: chrono::Utc::now(),
        })
        .collect()
}

/// Seconds to start the actor (replaying every event) and answer one query.
async fn rehydrate<A: EventSourced<Command = AccountCommand, Reply = Account>>(
    store: &Arc<InMemoryStore>,
    expected: i64,
) -> f64
where
    A::Error: std::fmt::Debug,
{
    let runtime = Runtime::builder_without_snapshots(store.clone()).build();
    let started = Instant::now();
    let balance = runtime
        .actor::<A>("a")
        .ask(AccountCommand::Get)
        .await
        .unwrap()
        .balance;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(balance, expected);
    runtime.shutdown().await;
    secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let store = Arc::new(InMemoryStore::new());
    let current = history("Account|a", "Deposited", |_| json!({ "amount": 5 }));
    let old = history("OldAccount|a", "Credited", |_| json!({ "amt": "5" }));
    store.save_events(&current).await.unwrap();
    store.save_events(&old).await.unwrap();
    let expected = 5 * EVENTS;
    let (mut plain, mut upcast) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        plain.push(rehydrate::<Account>(&store, expected).await);
        upcast.push(rehydrate::<OldAccount>(&store, expected).await);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, upcast) = (median(&mut plain), median(&mut upcast));
    let rate = |secs: f64| EVENTS as f64 / secs / 1e6;
    println!(
        "rehydrate {EVENTS} events, median of {ROUNDS}: no upcasters {:.3} s ({:.2} M events/s); \
         3-step chain {:.3} s ({:.2} M events/s); chain / none = {:.2}x the time",
        plain,
        rate(plain),
        upcast,
        rate(upcast),
        upcast / plain
    );
}
