#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Happened { n: u32 },
}

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(snapshot_every = 10)]
struct Thing {
    n: u32,
}

#[aether::commands]
impl Thing {
    fn get(&self) -> u32 {
        self.n
    }

    fn apply(&mut self, event: &Ev) {
        let Ev::Happened { n } = event;
        self.n += n;
    }
}

fn main() {}
