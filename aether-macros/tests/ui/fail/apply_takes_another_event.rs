#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Happened { n: u32 },
}

#[derive(Debug, aether::DomainEvent)]
struct Other;

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

    fn apply(&mut self, _event: &Other) {}
}

fn main() {}
