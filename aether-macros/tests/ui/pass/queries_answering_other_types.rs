//! Queries may answer with anything that is not the actor's events in a command's shape:
//! collections of other types, and events named through a type of the user's own (an
//! alias), which is how a query that really answers with events is written.

#[derive(Debug, Clone, aether::DomainEvent)]
enum AccountEvent {
    Deposited { amount: u64 },
}

/// The deposits so far, as events: a query's reply, not events to record.
type History = Vec<AccountEvent>;

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = AccountEvent)]
struct Account {
    deposits: Vec<u64>,
}

#[aether::commands]
impl Account {
    fn deposit(&self, amount: u64) -> Result<AccountEvent, std::convert::Infallible> {
        Ok(AccountEvent::Deposited { amount })
    }

    fn deposits(&self) -> Vec<u64> {
        self.deposits.clone()
    }

    fn last(&self) -> Option<u64> {
        self.deposits.last().copied()
    }

    fn summary(&self) -> (usize, Vec<u64>) {
        (self.deposits.len(), self.deposits.clone())
    }

    fn history(&self) -> History {
        self.deposits.iter().map(|&amount| AccountEvent::Deposited { amount }).collect()
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited { amount } = event;
        self.deposits.push(*amount);
    }
}

fn main() {}
