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
//! # Examples
//!
//! ```
//! # extern crate aether_runtime as aether;
//! # use aether_runtime::{Decision, DomainEvent, EventDecodeError, EventSourced};
//! # use serde_json::{json, Value};
//! # #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
//! # struct Account { owner: String, balance: i64 }
//! # #[derive(Debug, Clone, PartialEq)]
//! # enum AccountEvent { Opened { owner: String }, Deposited { amount: i64 } }
//! # impl DomainEvent for AccountEvent {
//! #     fn event_type(&self) -> &str {
//! #         match self { Self::Opened { .. } => "Opened", Self::Deposited { .. } => "Deposited" }
//! #     }
//! #     fn to_data(&self) -> Result<Value, serde_json::Error> {
//! #         Ok(match self {
//! #             Self::Opened { owner } => json!({ "owner": owner }),
//! #             Self::Deposited { amount } => json!({ "amount": amount }),
//! #         })
//! #     }
//! #     fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
//! #         let bad = |why| EventDecodeError::invalid_data(event_type, why);
//! #         match event_type {
//! #             "Opened" => Ok(Self::Opened {
//! #                 owner: data["owner"].as_str().ok_or_else(|| bad("owner"))?.to_owned(),
//! #             }),
//! #             "Deposited" => Ok(Self::Deposited {
//! #                 amount: data["amount"].as_i64().ok_or_else(|| bad("amount"))?,
//! #             }),
//! #             other => Err(EventDecodeError::unknown_type(other)),
//! #         }
//! #     }
//! # }
//! # enum AccountCommand { Deposit { amount: i64 }, Withdraw { amount: i64 } }
//! # #[derive(Debug)]
//! # enum AccountError { Insufficient { balance: i64 } }
//! # impl std::fmt::Display for AccountError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//! #         let Self::Insufficient { balance } = self;
//! #         write!(f, "insufficient funds: balance {balance}")
//! #     }
//! # }
//! # impl std::error::Error for AccountError {}
//! # impl EventSourced for Account {
//! #     const ACTOR_TYPE: &'static str = "Account";
//! #     type Command = AccountCommand;
//! #     type Event = AccountEvent;
//! #     type Reply = i64;
//! #     type Error = AccountError;
//! #     fn decide(&self, command: &AccountCommand) -> Result<Decision<AccountEvent, i64>, AccountError> {
//! #         match *command {
//! #             AccountCommand::Deposit { amount } => Ok(Decision::new(
//! #                 vec![AccountEvent::Deposited { amount }],
//! #                 self.balance + amount,
//! #             )),
//! #             AccountCommand::Withdraw { amount } if amount > self.balance => {
//! #                 Err(AccountError::Insufficient { balance: self.balance })
//! #             }
//! #             AccountCommand::Withdraw { .. } => unimplemented!("not in this example"),
//! #         }
//! #     }
//! #     fn apply(&mut self, event: &AccountEvent) {
//! #         match event {
//! #             AccountEvent::Opened { owner } => self.owner = owner.clone(),
//! #             AccountEvent::Deposited { amount } => self.balance += amount,
//! #         }
//! #     }
//! # }
//! # fn main() {
//! use aether::testkit::TestKit;
//!
//! TestKit::<Account>::given([AccountEvent::Opened { owner: "ada".into() }])
//!     .when(AccountCommand::Deposit { amount: 5 })
//!     .then_events([AccountEvent::Deposited { amount: 5 }])
//!     .then_state(|account| assert_eq!(account.balance, 5))
//!     .and_when(AccountCommand::Withdraw { amount: 50 })
//!     .then_error(|e| matches!(e, AccountError::Insufficient { .. }));
//! # }
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

mod given;
mod runtime;
mod then;

pub use given::TestKit;
pub use runtime::{in_memory_runtime, in_memory_runtime_and_store, runtime_with};
pub use then::Then;
