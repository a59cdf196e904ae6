//! `aether::connect(url)` against the real stores: each URL form opens the store it names
//! (a fresh PostgreSQL schema, a fresh NATS namespace, dropped afterwards), the handle
//! works as every store trait and as a runtime's store, and errors name what is wrong
//! without ever showing a password.
//!
//! PostgreSQL (`AETHER_POSTGRES_URL`) and NATS (`NATS_URL`) tests skip with a message when
//! the server is unreachable, unless `CI=true`.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "nats"))]

mod servers;

use aether::feed::{FeedFilter, Position};
use aether::nats::NatsStore;
use aether::sqlite::SqliteStore;
use aether::{
    connect, ActorSnapshot, AnyStore, ConnectUrlError, Event, EventStore, SnapshotStore, StoreKind,
};
use aether_core::{CheckpointStore, EventFeed};
use serde_json::json;

fn event(actor_id: &str, version: i64) -> Event {
    Event {
        id: format!("{actor_id}/{version}"),
        event_type: "Deposited".to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: None,
        version,
        data: json!({ "amount": version * 10 }),
        timestamp: chrono::Utc::now(),
    }
}

/// Writes through every trait of the handle and reads it back.
async fn exercise(store: &AnyStore) {
    store
        .save_events(&[event("Account|1", 1), event("Account|1", 2)])
        .await
        .unwrap();
    store.save_event(&event("Order|9", 1)).await.unwrap();
    assert_eq!(store.get_latest_version("Account|1").await.unwrap(), 2);
    store
        .save_snapshot(&ActorSnapshot {
            actor_id: "Account|1".into(),
            version: 2,
            state: json!({ "balance": 30 }),
            timestamp: chrono::Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .get_latest_snapshot("Account|1")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    let page = store
        .feed()
        .read_feed(
            Position::START,
            &FeedFilter::all().actor_type("Account"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert!(store.feed_head().await.unwrap() > Position::START);
    store
        .checkpoints()
        .save_checkpoint("connect-test", page.next)
        .await
        .unwrap();
    assert_eq!(
        store.load_checkpoint("connect-test").await.unwrap(),
        Some(page.next)
    );
    // The runtime takes it as its store.
    let runtime = store.runtime_builder().build();
    runtime.shutdown().await;
}

#[tokio::test]
async fn memory_url_gives_an_empty_in_memory_store() {
    let store = connect("memory:").await.unwrap();
    assert_eq!(store.kind(), StoreKind::Memory);
    exercise(&store).await;
}

#[tokio::test]
async fn sqlite_urls_take_relative_and_absolute_paths() {
    // Relative to the working directory (the package root under cargo test).
    std::fs::create_dir_all("target").unwrap();
    let dir = tempfile::tempdir_in("target").unwrap();
    let relative = dir
        .path()
        .strip_prefix(std::env::current_dir().unwrap())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|_| dir.path().to_path_buf())
        .join("rel.db");
    assert!(relative.is_relative(), "{}", relative.display());
    let store = connect(&format!("sqlite://{}", relative.display()))
        .await
        .unwrap();
    assert_eq!(store.kind(), StoreKind::Sqlite);
    exercise(&store).await;
    let path = store
        .downcast_ref::<SqliteStore>()
        .unwrap()
        .path()
        .to_owned();
    assert!(path.ends_with("rel.db"));
    drop(store);
    assert!(dir.path().join("rel.db").exists());

    // Absolute: sqlite:///abs/path. A second open sees the first one's events.
    let absolute = dir.path().join("abs.db");
    assert!(absolute.is_absolute());
    let url = format!("sqlite://{}", absolute.display());
    assert!(url.starts_with("sqlite:///"));
    exercise(&connect(&url).await.unwrap()).await;
    let again = connect(&url).await.unwrap();
    assert_eq!(again.get_events("Account|1", 0).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_file_that_is_not_an_aether_store_is_the_stores_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not events, just some text long enough to be read as a header",
    )
    .unwrap();
    let err = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    let ConnectUrlError::Store { kind, source, .. } = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(*kind, StoreKind::Sqlite);
    assert!(source.downcast_ref::<aether::sqlite::OpenError>().is_some());
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[tokio::test]
async fn bad_urls_say_what_is_wrong() {
    let err = connect("mysql://root@localhost/db").await.unwrap_err();
    assert!(matches!(&err, ConnectUrlError::UnknownScheme { scheme } if scheme == "mysql"));
    for scheme in ["memory:", "sqlite://", "postgres://", "nats://"] {
        assert!(err.to_string().contains(scheme), "{err} lists {scheme}");
    }
    for bad in [
        "events.db",
        "sqlite://",
        "memory:extra",
        "nats://127.0.0.1:4222?namespace=",
        "nats://127.0.0.1:4222?stream=x",
        "postgres://u:pw@h/db?schema=a&schema=b",
    ] {
        let err = connect(bad).await.unwrap_err();
        assert!(
            matches!(err, ConnectUrlError::Malformed { .. }),
            "{bad}: {err:?}"
        );
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }
}

#[tokio::test]
async fn errors_never_show_the_password() {
    // Nothing listens on port 1: refused at once.
    for url in [
        "postgres://app:hunter2@127.0.0.1:1/test?schema=x",
        "postgres://app@127.0.0.1:1/test?password=hunter2",
        "nats://user:hunter2@127.0.0.1:1",
        "nats://hunter2@127.0.0.1:1?namespace=n",
    ] {
        let err = connect(url).await.unwrap_err();
        let mut text = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            text.push_str(&format!(" {inner} {inner:?}"));
            source = inner.source();
        }
        assert!(
            matches!(err, ConnectUrlError::Store { .. }),
            "{url}: {err:?}"
        );
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert!(text.contains("***") || text.contains("127.0.0.1"), "{text}");
    }
}

#[tokio::test]
async fn postgres_url_with_a_schema_parameter() {
    let schema = servers::unique_name("aether_connect");
    let _guard = servers::SchemaGuard(schema.clone());
    let url = format!("{}?schema={schema}", servers::pg_url());
    let store = match connect(&url).await {
        Ok(store) => store,
        Err(err) => return servers::unreachable("PostgreSQL", err),
    };
    assert_eq!(store.kind(), StoreKind::Postgres);
    exercise(&store).await;
    drop(store);

    // The events are in that schema's table.
    let (client, connection) = tokio_postgres::connect(&servers::pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    servers::sweep_now(&client, &["aether_connect"], servers::SWEEP_AGE.as_secs()).await;
    let row = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".events"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
}

#[tokio::test]
async fn nats_url_with_a_namespace_parameter() {
    let namespace = servers::nats_namespace("connect");
    let _guard = servers::NamespaceGuard(namespace.clone());
    let url = format!("{}?namespace={namespace}", servers::nats_url());
    let store = match connect(&url).await {
        Ok(store) => store,
        Err(err) => return servers::unreachable("NATS", err),
    };
    assert_eq!(store.kind(), StoreKind::Nats);
    exercise(&store).await;

    // A store opened on that namespace directly sees the events.
    let direct = NatsStore::builder(servers::nats_url())
        .namespace(&namespace)
        .connect()
        .await
        .unwrap();
    assert_eq!(direct.get_events("Account|1", 0).await.unwrap().len(), 2);
}
