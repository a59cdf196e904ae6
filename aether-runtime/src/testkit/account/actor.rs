//! The account actor: [`Account`], its commands and errors, and the switch that makes
//! its `apply` panic on purpose ([`poison`], [`cure`]).

use std::sync::Mutex;

use aether_core::Event;
use serde::{Deserialize, Serialize};

use super::AccountEvent;
use crate::{Decision, DomainEvent, EventSourced};

/// The account's state (also every command's reply): stored as its snapshot, so it
/// serializes; a snapshot without `opened` (an account never opened) decodes too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Whether an [`Opened`](AccountEvent::Opened) event was applied.
    #[serde(default)]
    pub opened: bool,
    /// Deposits minus withdrawals (saturating at the `i64` bounds).
    pub balance: i64,
    /// Events applied: the actor's version, since histories have no gaps.
    pub applied: u64,
}

/// What an [`Account`] is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountCommand {
    /// Records [`Opened`](AccountEvent::Opened); fails with
    /// [`AlreadyOpen`](AccountError::AlreadyOpen) if it was.
    Open,
    /// Records one [`Deposited`](AccountEvent::Deposited).
    Deposit(i64),
    /// Records one [`Withdrawn`](AccountEvent::Withdrawn); fails with
    /// [`Insufficient`](AccountError::Insufficient) beyond the balance.
    Withdraw(i64),
    /// Records `times` [`Deposited`](AccountEvent::Deposited) events of `amount` each, in
    /// one command (persisted as one atomic batch); `times == 0` records nothing.
    DepositMany {
        /// Each event's amount.
        amount: i64,
        /// How many events.
        times: u32,
    },
    /// A query: records nothing, replies with the state.
    Get,
    /// `decide` panics with "decide panicked on purpose".
    PanicInDecide,
    /// Records [`Poison`](AccountEvent::Poison) with this tag: `apply` panics on it with
    /// "apply panicked on purpose" while the tag is [`poison`]ed.
    Poison(u64),
}

impl AccountCommand {
    /// [`DepositMany`](AccountCommand::DepositMany): `times` deposits of `amount` in one
    /// command.
    pub const fn deposit_many(amount: i64, times: u32) -> Self {
        AccountCommand::DepositMany { amount, times }
    }
}

/// Why an [`Account`] refused a command (nothing recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountError {
    /// [`Open`](AccountCommand::Open) on an open account.
    AlreadyOpen,
    /// A deposit or withdrawal of less than zero.
    Negative {
        /// The amount asked.
        amount: i64,
    },
    /// A withdrawal beyond the balance.
    Insufficient {
        /// The balance.
        balance: i64,
        /// The amount asked.
        asked: i64,
    },
}

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountError::AlreadyOpen => f.write_str("account is already open"),
            AccountError::Negative { amount } => {
                write!(f, "amount must not be negative, got {amount}")
            }
            AccountError::Insufficient { balance, asked } => {
                write!(f, "insufficient funds: balance {balance}, asked {asked}")
            }
        }
    }
}

impl std::error::Error for AccountError {}

/// Tags whose [`Poison`](AccountEvent::Poison) events make `apply` panic.
static POISONED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// From now on, `apply` panics on [`Poison`](AccountEvent::Poison) events with `tag` (a
/// bug in the program), until [`cure`]. Tags are process-wide: give each test its own.
pub fn poison(tag: u64) {
    let mut poisoned = POISONED.lock().unwrap_or_else(|e| e.into_inner());
    if !poisoned.contains(&tag) {
        poisoned.push(tag);
    }
}

/// Undoes [`poison`]: `apply` accepts `Poison` events with `tag` again.
pub fn cure(tag: u64) {
    POISONED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|t| *t != tag);
}

fn is_poisoned(tag: u64) -> bool {
    POISONED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&tag)
}

impl EventSourced for Account {
    const ACTOR_TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    /// The state after the command.
    type Reply = Account;
    type Error = AccountError;

    fn decide(
        &self,
        command: &AccountCommand,
    ) -> Result<Decision<AccountEvent, Account>, AccountError> {
        let checked = |amount: i64| {
            if amount >= 0 {
                Ok(amount)
            } else {
                Err(AccountError::Negative { amount })
            }
        };
        let events = match *command {
            AccountCommand::Open if self.opened => return Err(AccountError::AlreadyOpen),
            AccountCommand::Open => vec![AccountEvent::Opened],
            AccountCommand::Deposit(amount) => vec![AccountEvent::Deposited {
                amount: checked(amount)?,
            }],
            AccountCommand::Withdraw(amount) if checked(amount)? > self.balance => {
                return Err(AccountError::Insufficient {
                    balance: self.balance,
                    asked: amount,
                })
            }
            AccountCommand::Withdraw(amount) => vec![AccountEvent::Withdrawn { amount }],
            AccountCommand::DepositMany { amount, times } => {
                let amount = checked(amount)?;
                (0..times)
                    .map(|_| AccountEvent::Deposited { amount })
                    .collect()
            }
            AccountCommand::Get => return Ok(Decision::reply(*self)),
            AccountCommand::PanicInDecide => panic!("decide panicked on purpose"),
            AccountCommand::Poison(tag) => vec![AccountEvent::Poison { tag }],
        };
        let mut after = *self;
        for event in &events {
            after.evolve(event);
        }
        Ok(Decision::new(events, after))
    }

    fn apply(&mut self, event: &AccountEvent) {
        if let AccountEvent::Poison { tag } = *event {
            if is_poisoned(tag) {
                // Half-mutate first, so a runtime that kept this state would be caught.
                self.balance = self.balance.saturating_add(1_000_000);
                panic!("apply panicked on purpose");
            }
        }
        self.evolve(event);
    }
}

impl Account {
    /// What `apply` does, without the poison check (never panics).
    fn evolve(&mut self, event: &AccountEvent) {
        self.applied += 1;
        match *event {
            AccountEvent::Opened => self.opened = true,
            AccountEvent::Deposited { amount } => {
                self.balance = self.balance.saturating_add(amount)
            }
            AccountEvent::Withdrawn { amount } => {
                self.balance = self.balance.saturating_sub(amount)
            }
            AccountEvent::Poison { .. } => {}
        }
    }

    /// The state a full replay of stored `events` gives (ignoring [`poison`]: the state
    /// the history leads to once `apply` accepts it).
    ///
    /// # Panics
    ///
    /// If an event does not decode: use it on histories this actor wrote.
    pub fn replay(events: &[Event]) -> Account {
        let mut state = Account::default();
        for e in events {
            let event = AccountEvent::from_data(&e.event_type, &e.data)
                .unwrap_or_else(|err| panic!("{} version {}: {err}", e.actor_id, e.version));
            state.evolve(&event);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deposit_stays_small() {
        assert!(std::mem::size_of::<AccountEvent>() <= 16);
        assert!(std::mem::size_of::<Account>() <= 24);
    }

    #[test]
    fn apply_saturates_instead_of_panicking() {
        let mut account = Account::default();
        account.apply(&AccountEvent::Deposited { amount: i64::MAX });
        account.apply(&AccountEvent::Deposited { amount: 1 });
        assert_eq!(account.balance, i64::MAX);
        account.apply(&AccountEvent::Withdrawn { amount: i64::MIN });
        assert_eq!(account.balance, i64::MAX);
    }

    #[test]
    fn amounts_must_not_be_negative() {
        let account = Account::default();
        for command in [
            AccountCommand::Deposit(-1),
            AccountCommand::Withdraw(-1),
            AccountCommand::DepositMany {
                amount: -1,
                times: 2,
            },
        ] {
            assert!(matches!(
                account.decide(&command),
                Err(AccountError::Negative { amount: -1 })
            ));
        }
        assert!(account.decide(&AccountCommand::Deposit(0)).is_ok());
    }

    #[test]
    fn apply_panics_on_a_poisoned_tag_only_until_cured() {
        let tag = 0xacc0_0001;
        let mut account = Account::default();
        account.apply(&AccountEvent::Poison { tag });
        poison(tag);
        let panicked = std::panic::catch_unwind(|| {
            let mut account = Account::default();
            account.apply(&AccountEvent::Poison { tag });
        });
        assert!(panicked.is_err());
        cure(tag);
        account.apply(&AccountEvent::Poison { tag });
        assert_eq!(account.applied, 2);
    }
}
