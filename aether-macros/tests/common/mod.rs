//! The bank account used by several tests: the README's example.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, aether::DomainEvent)]
pub(crate) enum AccountEvent {
    Opened {
        owner: String,
    },
    Deposited {
        amount: u64,
    },
    Withdrawn {
        amount: u64,
    },
    #[aether(rename = "AccountClosed")]
    Closed,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum AccountError {
    #[error("the account is not open")]
    NotOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    Insufficient { balance: u64, asked: u64 },
}

#[derive(Debug, Default, Serialize, Deserialize, aether::Actor)]
#[aether(event = AccountEvent, snapshot_every = 100)]
pub(crate) struct Account {
    pub(crate) owner: Option<String>,
    pub(crate) balance: u64,
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

    /// Takes `amount` out; answers the new balance.
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

    /// The current balance.
    pub(crate) fn balance(&self) -> u64 {
        self.balance
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount } => self.balance += amount,
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
            AccountEvent::Closed => self.owner = None,
        }
    }
}
