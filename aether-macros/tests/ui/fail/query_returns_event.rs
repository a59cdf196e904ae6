//! A method that returns the event itself, without `Result`, would be a query that
//! records nothing.

#[derive(Debug, aether::DomainEvent)]
enum AccountEvent {
    Deposited { amount: u64 },
}

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = AccountEvent)]
struct Account {
    balance: u64,
}

#[aether::commands]
impl Account {
    fn deposit(&self, amount: u64) -> AccountEvent {
        AccountEvent::Deposited { amount }
    }

    fn balance(&self) -> u64 {
        self.balance
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited { amount } = event;
        self.balance += amount;
    }
}

fn main() {}
