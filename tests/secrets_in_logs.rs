//! No password in logs, errors or `Debug` output (#17): every tracing event at every
//! level is captured into a buffer while stores connect to the TLS servers `.ci/run` sets
//! up, with the right password (then save and read an event) and a wrong one, through
//! the store builders, URLs with credentials and `aether::connect`; the captured logs, the
//! errors and the stores' `Debug` must not hold either password. The capture is checked
//! to have recorded the connects, so an empty log cannot pass. One dependency target is
//! kept at DEBUG: async-nats logs its CONNECT message, password included, at TRACE.
//!
//! Without the TLS setup (`bash .ci/run setup` makes it) the test skips with a reason;
//! under `CI=true` it fails.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "nats"))]

#[path = "servers/mod.rs"]
mod servers;

use std::io::Write;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::Layer;

use aether::nats::NatsStore;
use aether::postgres::PostgresStore;
use aether::{EventStore, SnapshotStore};

/// Where tracing writes: one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Setup {
    dir: PathBuf,
    pg_password: String,
    nats_password: String,
    nats_url: String,
}

fn setup() -> Option<Setup> {
    let dir = PathBuf::from(
        std::env::var("AETHER_CI_TLS_DIR").unwrap_or_else(|_| "/var/lib/aether-ci/tls".to_owned()),
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).map(|s| s.trim().to_owned());
    match (read("pg-password"), read("nats-password")) {
        (Ok(pg_password), Ok(nats_password)) => Some(Setup {
            nats_url: std::env::var("AETHER_NATS_TLS_URL")
                .unwrap_or_else(|_| "tls://127.0.0.1:4223".to_owned()),
            dir,
            pg_password,
            nats_password,
        }),
        (Err(err), _) | (_, Err(err)) => {
            let why = format!(
                "no TLS setup in {} ({err}); `bash .ci/run setup` makes it",
                dir.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI=true and {why}");
            }
            eprintln!("skipping: {why}");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!("{prefix}_{secs}_{}", std::process::id())
}

fn event(actor: &str) -> aether::Event {
    aether::Event {
        id: unique("evt"),
        event_type: "Noted".into(),
        actor_id: actor.into(),
        command_id: None,
        version: 1,
        data: serde_json::json!({}),
        timestamp: chrono::Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_reaches_logs_errors_or_debug_output() {
    let Some(setup) = setup() else { return };
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything at TRACE, aether's crates and the drivers', except one target:
    // async-nats writes its CONNECT message, password included, at TRACE under
    // `async_nats::connection` (a dependency's choice we cannot change; the README's
    // "Security" section says to keep that target below TRACE). At DEBUG it is checked.
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target("async_nats::connection", tracing::Level::DEBUG);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(filter),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let wrong = "wrong-password-5e1d7";
    let ca = setup.dir.join("ca.crt");
    let mut shown: Vec<String> = Vec::new();

    // PostgreSQL: the TLS-only password user, by URL, right and wrong.
    let schema = servers::unique_name("aether_secrets");
    let url = |password: &str| {
        format!(
            "postgres://aether_tls:{password}@localhost:5432/test?sslmode=verify-full&sslrootcert={}",
            ca.display()
        )
    };
    let store = PostgresStore::builder(url(&setup.pg_password))
        .schema(schema.clone())
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the right password over TLS");
    store.save_event(&event("Secret|pg")).await.unwrap();
    assert_eq!(store.get_events("Secret|pg", 1).await.unwrap().len(), 1);
    assert!(store
        .get_latest_snapshot("Secret|pg")
        .await
        .unwrap()
        .is_none());
    shown.push(format!("{store:?}"));
    drop(store);
    let err = PostgresStore::builder(url(wrong))
        .schema(schema.clone())
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("a wrong password");
    shown.push(format!("{err} {err:?}"));
    // Through the facade's one-line connect, too.
    match aether::connect(&format!("{}&schema={schema}", url(wrong))).await {
        Ok(_) => panic!("a wrong password connected"),
        Err(err) => shown.push(format!("{err} {err:?}")),
    }
    let any = aether::connect(&format!("{}&schema={schema}", url(&setup.pg_password)))
        .await
        .expect("aether::connect with the right password");
    shown.push(format!("{any:?} {}", any.url()));
    drop(any);

    // NATS: the TLS server's password user, credentials in the URL, right and wrong.
    let namespace = unique("secrets");
    let nats_url = |password: &str| {
        setup
            .nats_url
            .replacen("://", &format!("://aether:{password}@"), 1)
    };
    let store = NatsStore::builder(nats_url(&setup.nats_password))
        .namespace(&namespace)
        .tls_ca_file(&ca)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the right NATS password over TLS");
    store.save_event(&event("Secret|nats")).await.unwrap();
    assert_eq!(store.get_events("Secret|nats", 1).await.unwrap().len(), 1);
    shown.push(format!("{store:?}"));
    store.delete_namespace().await.ok();
    drop(store);
    let err = NatsStore::builder(nats_url(wrong))
        .namespace(&namespace)
        .tls_ca_file(&ca)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("a wrong NATS password");
    shown.push(format!("{err} {err:?}"));

    // Clean up the schema with the plain trust connection the suite uses.
    if let Ok((client, conn)) = tokio_postgres::connect(
        "host=127.0.0.1 user=postgres dbname=test",
        tokio_postgres::NoTls,
    )
    .await
    {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await;
    }

    let logs = captured.text();
    assert!(
        logs.lines().count() > 5,
        "the capture recorded the connects (else this test proves nothing):\n{logs}"
    );
    for secret in [&setup.pg_password, &setup.nats_password, &wrong.to_owned()] {
        assert!(
            !logs.contains(secret.as_str()),
            "a password is in the logs:\n{logs}"
        );
        for text in &shown {
            assert!(
                !text.contains(secret.as_str()),
                "a password is shown: {text}"
            );
        }
    }
    eprintln!(
        "{} log lines and {} errors/Debug texts checked",
        logs.lines().count(),
        shown.len()
    );
}
