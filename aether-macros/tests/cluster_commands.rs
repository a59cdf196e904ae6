//! `#[aether::commands(cluster)]`: the generated command and reply enums are serde (they
//! cross the wire between cluster members), as the domain error must be.

use aether::{Actor, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, DomainEvent)]
enum TallyEvent {
    Added { n: u64 },
}

#[derive(Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{n} is too big")]
struct TooBig {
    n: u64,
}

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = TallyEvent)]
struct Tally {
    total: u64,
}

#[aether::commands(cluster)]
impl Tally {
    fn add(&self, n: u64) -> Result<TallyEvent, TooBig> {
        if n > 100 {
            return Err(TooBig { n });
        }
        Ok(TallyEvent::Added { n })
    }
    fn total(&self) -> u64 {
        self.total
    }
    fn apply(&mut self, event: &TallyEvent) {
        match event {
            TallyEvent::Added { n } => self.total += n,
        }
    }
}

fn round_trip<T: Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_value(serde_json::to_value(value).unwrap()).unwrap()
}

#[test]
fn commands_and_replies_round_trip_through_json() {
    let command = TallyCommand::Add { n: 7 };
    assert_eq!(
        serde_json::to_value(&command).unwrap(),
        serde_json::json!({ "Add": { "n": 7 } })
    );
    assert!(matches!(round_trip(&command), TallyCommand::Add { n: 7 }));
    assert!(matches!(
        round_trip(&TallyCommand::Total {}),
        TallyCommand::Total {}
    ));
    assert!(matches!(
        round_trip(&TallyReply::Total(3)),
        TallyReply::Total(3)
    ));
    assert_eq!(round_trip(&TooBig { n: 101 }), TooBig { n: 101 });
}
