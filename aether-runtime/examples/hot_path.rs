//! The command path for profiling: one actor, sequential asks on `InMemoryStore`.
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release -p aether-runtime --example hot_path
//! perf record -g target/release/examples/hot_path 500000
//! ```

use std::sync::Arc;
use std::time::Instant;

use aether_core::InMemoryStore;
use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

enum AccountEvent {
    Deposited { amount: u64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &str {
        "Deposited"
    }
    fn to_data(&self) -> Result<Value, serde_json::Error> {
        let AccountEvent::Deposited { amount } = self;
        Ok(json!({ "amount": amount }))
    }
    fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
        match (event_type, data["amount"].as_u64()) {
            ("Deposited", Some(amount)) => Ok(AccountEvent::Deposited { amount }),
            ("Deposited", None) => Err(EventDecodeError::invalid_data(event_type, "no amount")),
            (other, _) => Err(EventDecodeError::unknown_type(other)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

enum Cmd {
    Deposit(u64),
}

impl EventSourced for Account {
    const ACTOR_TYPE: &'static str = "Account";
    type Command = Cmd;
    type Event = AccountEvent;
    type Reply = u64;
    type Error = Never;

    fn decide(&self, command: &Cmd) -> Result<Decision<AccountEvent, u64>, Never> {
        let Cmd::Deposit(amount) = command;
        Ok(Decision::new(
            vec![AccountEvent::Deposited { amount: *amount }],
            self.balance + amount,
        ))
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited { amount } = event;
        self.balance += amount;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
    let account = runtime.actor::<Account>("hot");
    let started = Instant::now();
    for _ in 0..n {
        account.ask(Cmd::Deposit(1)).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} sequential asks in {secs:.2}s = {:.0}/s",
        n as f64 / secs
    );
    runtime.shutdown().await;
}
