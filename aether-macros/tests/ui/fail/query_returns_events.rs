//! The other shapes of a command's events, without `Result`: each would be a query that
//! records nothing. With a fallible command in the block, the fix names its error type.

mod events {
    #[derive(Debug, aether::DomainEvent)]
    pub enum AccountEvent {
        Deposited { amount: u64 },
    }
}

use events::AccountEvent;

#[derive(Debug, thiserror::Error)]
#[error("closed")]
struct Closed;

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = AccountEvent)]
struct Account {
    balance: u64,
}

#[aether::commands]
impl Account {
    fn deposit_all(&self, amounts: Vec<u64>) -> Vec<AccountEvent> {
        amounts.into_iter().map(|amount| AccountEvent::Deposited { amount }).collect()
    }

    fn deposit_some(&self, amount: u64) -> Option<AccountEvent> {
        (amount > 0).then_some(AccountEvent::Deposited { amount })
    }

    fn deposit_and_tell(&self, amount: u64) -> (u64, Vec<AccountEvent>) {
        (self.balance + amount, vec![AccountEvent::Deposited { amount }])
    }

    fn decide_deposit(&self, amount: u64) -> aether::Decision<AccountEvent, u64> {
        aether::Decision::new(vec![AccountEvent::Deposited { amount }], self.balance + amount)
    }

    fn deposit(&self, amount: u64) -> Result<AccountEvent, Closed> {
        Ok(AccountEvent::Deposited { amount })
    }

    fn apply(&mut self, event: &events::AccountEvent) {
        let AccountEvent::Deposited { amount } = event;
        self.balance += amount;
    }
}

fn main() {}
