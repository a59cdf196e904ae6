#[derive(aether::DomainEvent)]
enum Ev {
    #[aether(name = "Started")]
    Started,
}

#[derive(Default, serde::Serialize, serde::Deserialize, aether::Actor)]
#[aether(event = Ev, actor_type = "Thing|v2", snapshot_every = 0)]
struct Thing {
    n: u32,
}

fn main() {}
