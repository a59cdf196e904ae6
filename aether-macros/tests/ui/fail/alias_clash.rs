#[derive(Debug, aether::DomainEvent)]
enum Ev {
    Opened,
    // An alias that is another event's name: a stored "Opened" could not be decoded.
    #[aether(alias = "Opened")]
    Started,
    #[aether(alias = "Gone")]
    Closed,
    #[aether(alias = "Gone")]
    Removed,
}

fn main() {}
