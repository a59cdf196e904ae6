//! The account actor the runtime's examples measure: one `Deposited` event per
//! deposit, a balance query.

use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Account {
    balance: u64,
}

pub(crate) enum AccountEvent {
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
pub(crate) struct Never;

pub(crate) enum Cmd {
    Deposit(u64),
    Balance,
}

impl EventSourced for Account {
    const ACTOR_TYPE: &'static str = "Account";
    type Command = Cmd;
    type Event = AccountEvent;
    type Reply = u64;
    type Error = Never;

    fn decide(&self, command: &Cmd) -> Result<Decision<AccountEvent, u64>, Never> {
        Ok(match command {
            Cmd::Deposit(amount) => Decision::new(
                vec![AccountEvent::Deposited { amount: *amount }],
                self.balance + amount,
            ),
            Cmd::Balance => Decision::reply(self.balance),
        })
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited { amount } = event;
        self.balance += amount;
    }
}
