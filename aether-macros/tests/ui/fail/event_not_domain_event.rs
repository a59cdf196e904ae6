struct NotAnEvent;

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = NotAnEvent)]
struct Thing {
    n: u32,
}

#[aether::commands]
impl Thing {
    fn get(&self) -> u32 {
        self.n
    }

    fn apply(&mut self, _event: &NotAnEvent) {}
}

fn main() {}
