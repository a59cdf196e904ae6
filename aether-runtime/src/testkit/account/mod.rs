//! The account actor the project's tests, examples and benchmarks share, and that you
//! may use to try the runtime without writing an actor first.
//!
//! [`Account`] is a hand-written [`EventSourced`](crate::EventSourced) actor (no
//! macros): a balance that takes deposits and withdrawals. It covers what tests of a
//! runtime or a store need:
//!
//! | command | records | replies / fails |
//! |---|---|---|
//! | [`Open`](AccountCommand::Open) | one [`Opened`](AccountEvent::Opened) | [`AlreadyOpen`](AccountError::AlreadyOpen) the second time |
//! | [`Deposit`](AccountCommand::Deposit) | one [`Deposited`](AccountEvent::Deposited) | |
//! | [`Withdraw`](AccountCommand::Withdraw) | one [`Withdrawn`](AccountEvent::Withdrawn) | [`Insufficient`](AccountError::Insufficient) beyond the balance |
//! | [`DepositMany`](AccountCommand::DepositMany) | `times` events in one atomic batch | |
//! | [`Get`](AccountCommand::Get) | nothing (a query) | |
//! | [`PanicInDecide`](AccountCommand::PanicInDecide) | nothing | `decide` panics |
//! | [`Poison`](AccountCommand::Poison) | one [`Poison`](AccountEvent::Poison) | `apply` panics on it while its tag is [`poison`]ed |
//!
//! Every reply is the state after the command (a query's: the state). Opening is
//! optional: deposits and withdrawals work on an account that was never opened. Amounts
//! must not be negative ([`Negative`](AccountError::Negative)); `apply` never panics on
//! amounts (it saturates), so any decodable history, however odd, applies.
//!
//! The common path stays as cheap as a minimal actor: a deposit is one 16-byte event in
//! a one-element `Vec`, the state and the reply are a 24-byte `Copy` struct, and the
//! poison check runs only for `Poison` events.
//!
//! # Examples
//!
//! ```
//! # extern crate aether_runtime as aether;
//! use aether::testkit::account::{Account, AccountCommand, AccountError, AccountEvent};
//! use aether::testkit::TestKit;
//!
//! TestKit::<Account>::given([AccountEvent::Opened, AccountEvent::Deposited { amount: 5 }])
//!     .when(AccountCommand::Withdraw(2))
//!     .then_events([AccountEvent::Withdrawn { amount: 2 }])
//!     .then_state(|account| assert_eq!(account.balance, 3))
//!     .and_when(AccountCommand::Withdraw(50))
//!     .then_error(|e| matches!(e, AccountError::Insufficient { balance: 3, asked: 50 }));
//! ```
//!
//! With a runtime:
//!
//! ```
//! # extern crate aether_runtime as aether;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use aether::testkit::account::{Account, AccountCommand};
//!
//! let runtime = aether::testkit::in_memory_runtime();
//! let account = runtime.actor::<Account>("acc-1");
//! account.ask(AccountCommand::Deposit(10)).await.unwrap();
//! let state = account
//!     .ask(AccountCommand::DepositMany { amount: 1, times: 3 })
//!     .await
//!     .unwrap();
//! assert_eq!((state.balance, state.applied), (13, 4));
//! # runtime.shutdown().await;
//! # });
//! ```

mod actor;
mod event;

pub use actor::{cure, poison, Account, AccountCommand, AccountError};
pub use event::AccountEvent;
