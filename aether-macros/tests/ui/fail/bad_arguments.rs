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
    fn name(&self, name: &str, (a, b): (u32, u32)) -> Result<Ev, Nope> {
        Ok(Ev::Happened { n: a + b + name.len() as u32 })
    }

    fn owner(&self) -> &str {
        "me"
    }

    fn helper(x: u32) -> u32 {
        x
    }

    fn apply(&mut self, event: &Ev) {
        let Ev::Happened { n } = event;
        self.n += n;
    }
}

fn main() {}
