#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Happened { n: u32 },
}

// No `Serialize` / `Deserialize`: snapshots could not store it.
#[derive(Default, aether::Actor)]
#[aether(event = Ev)]
struct Thing {
    n: u32,
}

#[aether::commands]
impl Thing {
    fn bump(&self, n: u32) -> Result<Ev, std::convert::Infallible> {
        Ok(Ev::Happened { n })
    }

    fn apply(&mut self, event: &Ev) {
        let Ev::Happened { n } = event;
        self.n += n;
    }
}

fn main() {}
