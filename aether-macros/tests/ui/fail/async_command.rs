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
    async fn bump(&self, n: u32) -> Result<Ev, Nope> {
        Ok(Ev::Happened { n })
    }

    fn apply(&mut self, event: &Ev) {
        let Ev::Happened { n } = event;
        self.n += n;
    }
}

fn main() {}
