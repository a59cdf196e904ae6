#[derive(aether::DomainEvent)]
enum Ev {
    Moved(i32, i32),
    Stopped { at: u64 },
}

fn main() {}
