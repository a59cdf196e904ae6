// `#[aether::commands(cluster)]` with a domain error that is not serde: one error, at the
// error type, saying what to derive.
use aether::{Actor, DomainEvent};

#[derive(Debug, Clone, DomainEvent)]
enum TallyEvent {
    Added { n: u64 },
}

#[derive(Debug, thiserror::Error)]
#[error("too big")]
struct TooBig;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize, Actor)]
#[aether(event = TallyEvent)]
struct Tally {
    total: u64,
}

#[aether::commands(cluster)]
impl Tally {
    fn add(&self, n: u64) -> Result<TallyEvent, TooBig> {
        Ok(TallyEvent::Added { n })
    }
    fn apply(&mut self, event: &TallyEvent) {
        match event {
            TallyEvent::Added { n } => self.total += n,
        }
    }
}

fn main() {}
