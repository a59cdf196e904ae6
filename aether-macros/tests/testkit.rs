//! The actor test kit: given / when / then, without a runtime or a store.

mod common;

use aether::testkit::TestKit;
use common::{Account, AccountCommand, AccountError, AccountEvent, AccountReply};

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        owner: "ada".into(),
    }
}

#[test]
fn given_when_then_events_and_state() {
    TestKit::<Account>::given([opened()])
        .when(AccountCommand::Deposit { amount: 5 })
        .then_events([AccountEvent::Deposited { amount: 5 }])
        .then_event_types(&["Deposited"])
        .then_state(|account| assert_eq!(account.balance, 5));
}

#[test]
fn then_error_and_replies() {
    let kit = TestKit::<Account>::given([opened(), AccountEvent::Deposited { amount: 10 }]);
    assert_eq!(kit.version(), 2);
    kit.when(AccountCommand::Withdraw { amount: 50 })
        .then_error(|e| {
            matches!(
                e,
                AccountError::Insufficient {
                    balance: 10,
                    asked: 50
                }
            )
        })
        .then_state(|account| assert_eq!(account.balance, 10))
        .and_when(AccountCommand::Withdraw { amount: 4 })
        .then_reply_matches(|r| matches!(r, AccountReply::Withdraw(6)))
        .and_when(AccountCommand::Balance {})
        .then_no_events()
        .then_reply_matches(|r| matches!(r, AccountReply::Balance(6)));
}

#[test]
fn the_outcome_can_be_inspected() {
    let then = TestKit::<Account>::new().when(AccountCommand::Deposit { amount: 1 });
    assert_eq!(then.error(), Some(&AccountError::NotOpen));
    assert!(then.events().is_empty());
    assert!(then.reply().is_none());
    let then = then
        .into_kit()
        .when(AccountCommand::Open { owner: "b".into() });
    assert_eq!(then.events(), [AccountEvent::Opened { owner: "b".into() }]);
    assert_eq!(then.state().owner.as_deref(), Some("b"));
    assert!(then.into_result().is_ok());
}

#[test]
#[should_panic(expected = "expected events")]
fn then_events_panics_on_other_events() {
    TestKit::<Account>::given([opened()])
        .when(AccountCommand::Deposit { amount: 5 })
        .then_events([AccountEvent::Deposited { amount: 6 }]);
}

#[test]
#[should_panic(expected = "but the command was rejected: the account is not open")]
fn then_events_panics_on_a_rejection() {
    TestKit::<Account>::new()
        .when(AccountCommand::Deposit { amount: 5 })
        .then_events([AccountEvent::Deposited { amount: 5 }]);
}

#[test]
#[should_panic(
    expected = "expected the command to be rejected, but it was accepted with events [\"Deposited\"]"
)]
fn then_error_panics_on_success() {
    TestKit::<Account>::given([opened()])
        .when(AccountCommand::Deposit { amount: 5 })
        .then_error(|_| true);
}

#[test]
#[should_panic(expected = "rejected, but with another error")]
fn then_error_panics_on_another_error() {
    TestKit::<Account>::new()
        .when(AccountCommand::Deposit { amount: 5 })
        .then_error(|e| matches!(e, AccountError::Insufficient { .. }));
}

#[test]
#[should_panic(expected = "the reply did not match")]
fn then_reply_matches_panics_on_another_reply() {
    TestKit::<Account>::new()
        .when(AccountCommand::Balance {})
        .then_reply_matches(|r| matches!(r, AccountReply::Balance(1)));
}

mod hand_written {
    //! A hand-written actor: a reply that is `PartialEq`, an event that does not decode.

    use aether::testkit::TestKit;
    use aether::{Decision, DomainEvent, EventDecodeError, EventSourced};
    use serde::{Deserialize, Serialize};
    use serde_json::{json, Value};

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub(crate) struct Counter(u64);

    #[derive(Debug, PartialEq)]
    pub(crate) enum Step {
        Added(u64),
        Broken,
    }

    impl DomainEvent for Step {
        fn event_type(&self) -> &str {
            match self {
                Step::Added(_) => "Added",
                Step::Broken => "Broken",
            }
        }
        fn to_data(&self) -> Result<Value, serde_json::Error> {
            Ok(match self {
                Step::Added(n) => json!({ "n": n }),
                Step::Broken => json!({}),
            })
        }
        fn from_data(event_type: &str, data: &Value) -> Result<Self, EventDecodeError> {
            match event_type {
                "Added" => data["n"]
                    .as_u64()
                    .map(Step::Added)
                    .ok_or_else(|| EventDecodeError::invalid_data(event_type, "n")),
                other => Err(EventDecodeError::unknown_type(other)),
            }
        }
    }

    impl EventSourced for Counter {
        const ACTOR_TYPE: &'static str = "Counter";
        type Command = Option<u64>;
        type Event = Step;
        type Reply = u64;
        type Error = std::convert::Infallible;

        fn decide(&self, command: &Option<u64>) -> Result<Decision<Step, u64>, Self::Error> {
            Ok(match command {
                Some(n) => Decision::new(vec![Step::Added(*n)], self.0 + n),
                None => Decision::new(vec![Step::Broken], self.0),
            })
        }
        fn apply(&mut self, event: &Step) {
            if let Step::Added(n) = event {
                self.0 += n;
            }
        }
    }

    #[test]
    fn then_reply_compares_plain_replies() {
        TestKit::<Counter>::given([Step::Added(2)])
            .when(Some(3))
            .then_reply(5)
            .then_events([Step::Added(3)]);
    }

    #[test]
    #[should_panic(expected = "expected the reply 6 but got 5")]
    fn then_reply_panics_on_another_reply() {
        let _ = TestKit::<Counter>::given([Step::Added(2)])
            .when(Some(3))
            .then_reply(6);
    }

    #[test]
    #[should_panic(expected = "does not decode: unknown event type \"Broken\"")]
    fn events_that_do_not_decode_fail_the_test() {
        let _ = TestKit::<Counter>::new().when(None);
    }

    #[test]
    #[should_panic(expected = "a given event (\"Broken\")")]
    fn given_events_must_decode_too() {
        let _ = TestKit::<Counter>::given([Step::Broken]);
    }
}
