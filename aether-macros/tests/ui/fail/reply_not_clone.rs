#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Happened { n: u32 },
}

#[derive(Debug, thiserror::Error)]
#[error("nope")]
struct Nope;

/// A receipt that cannot be copied: a retried command id could not get it again.
struct Receipt(u32);

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = Ev)]
struct Thing {
    n: u32,
}

#[aether::commands]
impl Thing {
    fn bump(&self, n: u32) -> Result<(Receipt, Vec<Ev>), Nope> {
        Ok((Receipt(n), vec![Ev::Happened { n }]))
    }

    fn apply(&mut self, event: &Ev) {
        let Ev::Happened { n } = event;
        self.n += n;
    }
}

fn main() {}
