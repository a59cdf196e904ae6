#[derive(aether::DomainEvent)]
enum Ev {
    Opened { owner: String },
    #[aether(rename = "Opened")]
    Reopened { owner: String },
    #[aether(rename = "")]
    Nameless,
}

fn main() {}
