//! The `warn` events of a test binary, captured by a global tracing subscriber: what a
//! runtime reports when it is dropped without `shutdown()` (`runtime_drop`,
//! `hot_actor_abort`). Global, because tokio drops tasks on its worker threads; so a
//! binary that uses it has its tests take turns ([`warnings`] returns the turn).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event's fields: `(name, value)`.
pub type Fields = Vec<(String, String)>;

/// Every `warn` event's fields.
#[derive(Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<Fields>>>);

struct Visitor<'a>(&'a mut Fields);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }
}

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Vec::new();
            event.record(&mut Visitor(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

impl Warnings {
    /// The warnings that have a field `name`, with that field's value.
    pub fn with_field(&self, name: &str) -> Vec<(String, Fields)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|fields| {
                let value = field(fields, name)?.to_owned();
                Some((value, fields.clone()))
            })
            .collect()
    }
}

/// The value of the field `name` of one event.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The global warning log, emptied, and a lock that keeps the binary's tests from
/// writing to it at the same time (hold it for the whole test).
pub fn warnings() -> (&'static Warnings, MutexGuard<'static, ()>) {
    static WARNINGS: OnceLock<Warnings> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let warnings = WARNINGS.get_or_init(|| {
        let warnings = Warnings::default();
        let subscriber = tracing_subscriber::registry().with(warnings.clone());
        tracing::subscriber::set_global_default(subscriber).unwrap();
        warnings
    });
    warnings.0.lock().unwrap().clear();
    (warnings, turn)
}
