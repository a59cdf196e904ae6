//! The generated code names only `::aether` paths: a crate that imports nothing else
//! (not even serde) compiles.

#[derive(Debug, PartialEq, aether::DomainEvent)]
enum CounterEvent {
    Added { n: u32 },
    Reset,
}

#[derive(Debug)]
struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("overflow")
    }
}

impl std::error::Error for Overflow {}

#[derive(Default, aether::Actor)]
#[aether(event = CounterEvent, actor_type = "counter")]
struct Counter {
    n: u32,
}

// `EventSourced` needs the state to be serializable: hand-written here, to keep serde out.
impl aether::__private::serde::Serialize for Counter {
    fn serialize<S: aether::__private::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.n)
    }
}
impl<'de> aether::__private::serde::Deserialize<'de> for Counter {
    fn deserialize<D: aether::__private::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Counter { n: u32::deserialize(d)? })
    }
}

#[aether::commands]
impl Counter {
    fn add(&self, n: u32) -> Result<CounterEvent, Overflow> {
        self.n.checked_add(n).ok_or(Overflow)?;
        Ok(CounterEvent::Added { n })
    }

    fn add_twice(&self, n: u32) -> Result<Vec<CounterEvent>, Overflow> {
        Ok(vec![CounterEvent::Added { n }, CounterEvent::Added { n }])
    }

    fn maybe_reset(&self, really: bool) -> Result<Option<CounterEvent>, Overflow> {
        Ok(really.then_some(CounterEvent::Reset))
    }

    fn check(&self) -> Result<(), Overflow> {
        Ok(())
    }

    fn add_and_tell(&self, n: u32) -> Result<aether::Decision<CounterEvent, u32>, Overflow> {
        Ok(aether::Decision::new(vec![CounterEvent::Added { n }], self.n + n))
    }

    fn value(&self) -> u32 {
        self.n
    }

    fn ping(&self) {}

    fn apply(&mut self, event: &CounterEvent) {
        match event {
            CounterEvent::Added { n } => self.n += n,
            CounterEvent::Reset => self.n = 0,
        }
    }
}

fn main() {
    use aether::EventSourced;
    assert_eq!(Counter::ACTOR_TYPE, "counter");
    assert_eq!(Counter::SNAPSHOT_EVERY, None);
    let _: fn(&aether::ActorRef<Counter>) = |counter| {
        let _ = CounterCommands::add(counter, 1);
        let _ = counter.value();
        let _ = counter.ping_with(aether::AskOptions::new());
    };
}
