//! An actor whose commands cannot fail has the error type `Infallible`.

#[derive(aether::DomainEvent)]
struct Touched;

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = Touched)]
struct Door {
    touches: u64,
}

#[aether::commands]
impl Door {
    pub(crate) fn touches(&self) -> u64 {
        self.touches
    }

    fn apply(&mut self, _: &Touched) {
        self.touches += 1;
    }
}

fn main() {
    let _: fn(aether::AskError<std::convert::Infallible>) -> aether::AskError<<Door as aether::EventSourced>::Error> = |e| e;
}
