//! A bank account on the embedded SQLite store: open, deposit, withdraw (and a domain
//! error), balance. Run it twice: the second run starts from the state it left.
//!
//! ```text
//! cargo run --example quickstart            # writes ./quickstart.db
//! cargo run --example quickstart            # again: the account is rehydrated
//! ```

use aether::{Actor, AskError, DomainEvent};
use serde::{Deserialize, Serialize};

/// What happened to an account: the facts aether stores.
#[derive(Debug, Clone, PartialEq, DomainEvent)]
pub(crate) enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

/// Why an account refuses a command.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum AccountError {
    #[error("the account is not open")]
    NotOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    Insufficient { balance: u64, asked: u64 },
}

/// The account's state: a fold of its events.
#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = AccountEvent, snapshot_every = 100)]
pub(crate) struct Account {
    owner: Option<String>,
    balance: u64,
}

#[aether::commands]
impl Account {
    /// Opens the account for `owner`.
    pub(crate) fn open(&self, owner: String) -> Result<AccountEvent, AccountError> {
        Ok(AccountEvent::Opened { owner })
    }

    /// Adds `amount` to the balance.
    pub(crate) fn deposit(&self, amount: u64) -> Result<AccountEvent, AccountError> {
        self.owner.as_ref().ok_or(AccountError::NotOpen)?;
        Ok(AccountEvent::Deposited { amount })
    }

    /// Takes `amount` out and answers the new balance.
    pub(crate) fn withdraw(&self, amount: u64) -> Result<(u64, Vec<AccountEvent>), AccountError> {
        if amount > self.balance {
            return Err(AccountError::Insufficient {
                balance: self.balance,
                asked: amount,
            });
        }
        Ok((
            self.balance - amount,
            vec![AccountEvent::Withdrawn { amount }],
        ))
    }

    /// The owner, if the account is open.
    pub(crate) fn owner(&self) -> Option<String> {
        self.owner.clone()
    }

    /// The current balance.
    pub(crate) fn balance(&self) -> u64 {
        self.balance
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

/// What one run saw, for the test that runs this example twice.
#[derive(Debug, PartialEq)]
pub(crate) struct Seen {
    /// The balance found when the run started (rehydrated from the file).
    pub(crate) balance_at_start: u64,
    /// The balance when the run ended (asked after the actor passivated).
    pub(crate) balance_at_end: u64,
    /// Whether the idle actor was passivated before the last ask.
    pub(crate) passivated: bool,
}

/// Opens the account on first use, deposits 100, withdraws 30, tries to overdraw, lets
/// the actor passivate and asks again.
pub(crate) async fn run(path: &std::path::Path) -> Result<Seen, Box<dyn std::error::Error>> {
    // `aether::sqlite::runtime(path)` is the one-line default; here idle actors are
    // passivated after 100 ms instead of 5 minutes, to show it.
    let store = aether::sqlite::SqliteStore::open(path).await?;
    let runtime = aether::Runtime::builder(std::sync::Arc::new(store))
        .passivate_after(Some(std::time::Duration::from_millis(100)))
        .build();
    let account = runtime.actor::<Account>("ada");

    let balance_at_start = account.balance().await?;
    match account.owner().await? {
        None => {
            account.open("Ada".into()).await?;
            println!("opened a new account for Ada in {}", path.display());
        }
        Some(owner) => println!(
            "welcome back, {owner}: balance {balance_at_start}, rehydrated from {}",
            path.display()
        ),
    }
    account.deposit(100).await?;
    let balance = account.withdraw(30).await?;
    println!("deposited 100, withdrew 30: balance {balance}");

    match account.withdraw(1_000_000).await {
        Err(AskError::Rejected { error, .. }) => println!("withdrawing 1,000,000: {error}"),
        other => println!("unexpected: {other:?}"),
    }

    // Idle for 100 ms, the actor stops and frees its memory; the handle stays valid.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while runtime.stats().live > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let passivated = runtime.stats().passivated > 0;
    println!("idle actor passivated: {passivated}");
    // The next command starts it again from the file.
    let balance_at_end = account.balance().await?;
    println!("asked again: balance {balance_at_end}, rehydrated from the store");
    // Drains every mailbox (told commands too) and waits for every actor to end. Without
    // it, commands still queued when `main` returns are lost (aether warns how many).
    runtime.shutdown().await;
    Ok(Seen {
        balance_at_start,
        balance_at_end,
        passivated,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "quickstart.db".into());
    let seen = run(path.as_ref()).await?;
    println!(
        "balance now {} (run again to see it rehydrated)",
        seen.balance_at_end
    );
    Ok(())
}
