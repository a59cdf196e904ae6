//! Tracing: one span per command and one per rehydration. (Alone in its test binary: a
//! test setting a thread-local subscriber must not race other tests for callsite
//! registration.)

mod common;

use std::sync::{Arc, Mutex};

use aether_runtime::Runtime;
use common::{Account, Cmd, TestStore};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Every span's name and fields as recorded, in order of creation.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanRecord>>>);

/// A span's name and its fields in the order they were recorded.
type SpanRecord = (String, Vec<(String, String)>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        ctx.span(id)
            .unwrap()
            .extensions_mut()
            .insert(spans.len() - 1);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let level = event.metadata().level().to_string();
        self.0
            .lock()
            .unwrap()
            .push((format!("event:{level}"), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let index = *ctx.span(id).unwrap().extensions().get::<usize>().unwrap();
        let mut spans = self.0.lock().unwrap();
        values.record(&mut Fields(&mut spans[index].1));
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn one_span_per_command_and_per_rehydration() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let runtime = Runtime::new(Arc::new(TestStore::default()));
            let account = runtime.actor::<Account>("traced");
            account.ask(Cmd::Open).await.unwrap();
            account.ask(Cmd::deposit_many(1, 2)).await.unwrap();
            assert!(account.ask(Cmd::Withdraw(100)).await.is_err());
            runtime.shutdown().await;
        });
    let spans = spans.0.lock().unwrap();
    let rehydrations: Vec<_> = spans
        .iter()
        .filter(|(n, _)| n == "aether.rehydrate")
        .collect();
    assert_eq!(rehydrations.len(), 1);
    assert_eq!(field(&rehydrations[0].1, "actor_type"), Some("Account"));
    assert_eq!(field(&rehydrations[0].1, "actor_id"), Some("traced"));
    let commands: Vec<_> = spans
        .iter()
        .filter(|(n, _)| n == "aether.command")
        .collect();
    assert_eq!(commands.len(), 3);
    let ranges: Vec<_> = commands
        .iter()
        .map(|(_, f)| {
            (
                field(f, "from_version").unwrap().to_owned(),
                field(f, "to_version").unwrap().to_owned(),
                field(f, "outcome").unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [("0", "1", "ok"), ("1", "3", "ok"), ("3", "3", "rejected")];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(ranges, expected);
}

#[test]
fn a_failed_tell_is_traced() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let runtime = Runtime::new(Arc::new(TestStore::default()));
            let account = runtime.actor::<Account>("told");
            // Nothing to withdraw: the domain rejects it, and no one is waiting for the answer.
            account.tell(Cmd::Withdraw(5)).await.unwrap();
            // Mailboxes are FIFO: once this is answered, the tell was handled.
            account.ask(Cmd::Get).await.unwrap();
            runtime.shutdown().await;
        });
    let records = spans.0.lock().unwrap();
    let warning = records
        .iter()
        .find(|(name, fields)| {
            name == "event:WARN" && field(fields, "message") == Some("told command failed")
        })
        .expect("a warning for the failed tell");
    assert_eq!(field(&warning.1, "actor_id"), Some("told"));
    assert!(
        field(&warning.1, "error").is_some_and(|e| e.contains("insufficient funds")),
        "{warning:?}"
    );
}
