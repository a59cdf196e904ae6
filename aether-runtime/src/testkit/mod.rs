//! Testing actors (feature `testkit`): given past events, when a command, then the
//! expected events, error or reply, with no runtime and no store.
//!
//! [`TestKit`] runs an actor's [`decide`](crate::EventSourced::decide) and
//! [`apply`](crate::EventSourced::apply) directly, the way the runtime would, like cqrs-es's
//! `TestFramework` or Akka's `EventSourcedBehaviorTestKit`. It also checks what the
//! runtime relies on: every given and produced event encodes with
//! [`to_data`](crate::DomainEvent::to_data) and decodes back with
//! [`from_data`](crate::DomainEvent::from_data) under the same event type, and the produced
//! events apply to the state. The `then_*` methods panic with a message naming what
//! differed (it is a test helper), and return the outcome for more checks.
//!
//! For tests that need the whole runtime (mailboxes, persistence, idempotency),
//! [`in_memory_runtime`] starts one on an [`InMemoryStore`](aether_core::InMemoryStore).
//!
//! [`account`] is a ready-made actor (a bank account: open, deposit, withdraw, a
//! multi-event command, a query, panics on purpose) for trying the runtime, and the one
//! the project's tests, examples and benchmarks share.
//!
//! # Examples
//!
//! ```
//! # extern crate aether_runtime as aether;
//! use aether::testkit::account::{Account, AccountCommand, AccountError, AccountEvent};
//! use aether::testkit::TestKit;
//!
//! TestKit::<Account>::given([AccountEvent::Opened])
//!     .when(AccountCommand::Deposit(5))
//!     .then_events([AccountEvent::Deposited { amount: 5 }])
//!     .then_state(|account| assert_eq!(account.balance, 5))
//!     .and_when(AccountCommand::Withdraw(50))
//!     .then_error(|e| matches!(e, AccountError::Insufficient { .. }));
//! ```
//!
//! With `#[aether::commands]`, the generated command enum (`AccountCommand`, one variant
//! per method, fields named after the arguments) is what `when` takes, and replies are
//! the generated reply enum: check them with
//! [`then_reply_matches`](Then::then_reply_matches)
//! (`|r| matches!(r, AccountReply::Balance(5))`). A hand-written actor whose reply is
//! `PartialEq + Debug` can use [`then_reply`](Then::then_reply).
//!
//! # Panics
//!
//! Every `given`, `when` and `then_*` panics when an expectation fails or an event does
//! not survive encoding and decoding; the message names the actor type and the command
//! number.

pub mod account;
mod given;
mod runtime;
mod then;

pub use given::TestKit;
pub use runtime::{in_memory_runtime, in_memory_runtime_and_store, runtime_with};
pub use then::Then;
