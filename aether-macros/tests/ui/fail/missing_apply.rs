#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Happened { n: u32 },
}

#[derive(Debug, thiserror::Error)]
#[error("nope")]
struct Nope;

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = Ev)]
struct Thing {
    n: u32,
}

#[aether::commands]
impl Thing {
    fn get(&self) -> u32 {
        self.n
    }
}

fn main() {}
