//! The README's actor and its test-kit example, run (the README's quickstart block is
//! compiled as the crate docs; this runs what it shows).
#![cfg(feature = "testkit")]

use aether::testkit::TestKit;
use aether::{Actor, AskError, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, DomainEvent)]
enum AccountEvent {
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds: balance {0}")]
struct Insufficient(u64);

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = AccountEvent, snapshot_every = 100)]
struct Account {
    balance: u64,
}

#[aether::commands]
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

#[test]
fn the_readme_test_kit_example_holds() {
    TestKit::<Account>::given([AccountEvent::Deposited { amount: 100 }])
        .when(AccountCommand::Withdraw { amount: 30 })
        .then_events([AccountEvent::Withdrawn { amount: 30 }])
        .then_state(|account| assert_eq!(account.balance, 70))
        .and_when(AccountCommand::Withdraw { amount: 500 })
        .then_error(|err| matches!(err, Insufficient(70)));
}

#[tokio::test]
async fn the_readme_quickstart_runs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = aether::sqlite::runtime(dir.path().join("bank.db"))
        .await
        .unwrap();
    let account = runtime.actor::<Account>("ada");
    account.deposit(100).await.unwrap();
    match account.withdraw(500).await {
        Err(AskError::Rejected { error, .. }) => assert_eq!(error.0, 100),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(account.balance().await.unwrap(), 100);
    runtime.shutdown().await;
}
