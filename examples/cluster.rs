//! Bank accounts in a cluster of processes on NATS (feature `cluster`): each account is
//! live on exactly one member, and a command typed in any terminal reaches it.
//!
//! Start NATS with JetStream (`nats-server -js`), then three members, one per terminal:
//!
//! ```text
//! cargo run --example cluster --features cluster -- node-1
//! cargo run --example cluster --features cluster -- node-2
//! cargo run --example cluster --features cluster -- node-3
//! ```
//!
//! and type, in any of them:
//!
//! ```text
//! deposit ada 100      # routed to ada's owner, which stores the event
//! withdraw ada 30
//! balance ada
//! members              # the members that own shards now
//! quit                 # leave gracefully: the others take this member's accounts
//! ```
//!
//! Each answer names the member that owns the account, and every member prints each
//! stored event, whichever member's actor stored it. Kill one member (`kill -9`): its
//! accounts are served by the others within about 2 s, with their balances intact.
//! `NATS_URL` (default `nats://127.0.0.1:4222`) and `AETHER_NAMESPACE` (default
//! `cluster-example`) say where.

use std::io::BufRead;

use aether::cluster::{Cluster, ClusterAskError};
use aether::{Actor, DomainEvent, SubscriptionFilter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, DomainEvent)]
enum AccountEvent {
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
#[error("insufficient funds: balance {0}")]
struct Insufficient(u64);

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = AccountEvent)]
struct Account {
    balance: u64,
}

// `cluster`: commands, replies and the error cross the wire between members.
#[aether::commands(cluster)]
impl Account {
    fn deposit(&self, amount: u64) -> Result<AccountEvent, Insufficient> {
        Ok(AccountEvent::Deposited { amount })
    }
    fn withdraw(&self, amount: u64) -> Result<AccountEvent, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient(self.balance));
        }
        Ok(AccountEvent::Withdrawn { amount })
    }
    fn balance(&self) -> u64 {
        self.balance
    }
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "node-1".to_owned());
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let namespace =
        std::env::var("AETHER_NAMESPACE").unwrap_or_else(|_| "cluster-example".to_owned());
    let cluster = Cluster::connect(&url, &namespace, &node)
        .await?
        .register::<Account>()
        .join()
        .await?;
    println!(
        "{node} joined cluster {namespace:?}; members: {:?}",
        cluster.members()
    );
    println!(
        "commands: deposit <id> <amount> | withdraw <id> <amount> | balance <id> | members | quit"
    );

    // Every member's events, as they are stored (a gap would be an error: say so).
    let mut events = cluster.subscribe(SubscriptionFilter::All).await?;
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => println!("event {} {} v{}", e.id, e.event.event_type, e.event.version),
                Err(aether::BusError::Closed) => break,
                Err(err) => println!("event bus: {err}"),
            }
        }
    });

    // Lines from stdin, read on a thread of their own.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["members"] => format!("{:?}", cluster.members()),
            ["quit"] => break,
            [verb @ ("deposit" | "withdraw"), id, amount] => {
                let Ok(amount) = amount.parse::<u64>() else {
                    println!("not an amount: {amount}");
                    continue;
                };
                let account = cluster.actor::<Account>(id);
                let command = if *verb == "deposit" {
                    AccountCommand::Deposit { amount }
                } else {
                    AccountCommand::Withdraw { amount }
                };
                match account.ask(command).await {
                    Ok(_) => format!("ok (owner {:?})", account.owner()),
                    Err(ClusterAskError::Rejected { error, .. }) => format!("refused: {error}"),
                    Err(err) => format!("failed: {err}"),
                }
            }
            ["balance", id] => {
                let account = cluster.actor::<Account>(id);
                match account.ask(AccountCommand::Balance {}).await {
                    Ok(AccountReply::Balance(balance)) => {
                        format!("{id}: {balance} (owner {:?})", account.owner())
                    }
                    Ok(other) => format!("unexpected reply {other:?}"),
                    Err(err) => format!("failed: {err}"),
                }
            }
            _ => "commands: deposit <id> <amount> | withdraw <id> <amount> | balance <id> | members | quit".to_owned(),
        };
        println!("{answer}");
    }
    // Hands this member's accounts over before going: nothing queued is lost.
    cluster.leave().await;
    println!("{node} left");
    Ok(())
}
