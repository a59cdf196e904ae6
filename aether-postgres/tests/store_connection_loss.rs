//! Connections lost mid-run: callers get backend errors while it lasts, the same store
//! instance serves again afterwards, and nothing acknowledged is lost.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_core::{EventStore, StoreError};
use aether_postgres::PostgresStore;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

const WRITERS: usize = 16;

struct Progress {
    acks: AtomicU64,
    backend_errors: AtomicU64,
    stop: AtomicBool,
}

/// Appends to its own actor until told to stop; after a backend error (the write may or
/// may not have been committed) it reloads the actor's version and goes on. Returns the
/// acknowledged versions with their event ids.
async fn writer(
    store: PostgresStore,
    actor: String,
    progress: Arc<Progress>,
) -> BTreeMap<i64, String> {
    let mut acknowledged = BTreeMap::new();
    let mut next = 1;
    let mut reload = false;
    while !progress.stop.load(Ordering::Relaxed) {
        if reload {
            match store.get_latest_version(&actor).await {
                Ok(latest) => {
                    next = latest + 1;
                    reload = false;
                }
                Err(StoreError::Backend { .. }) => {
                    progress.backend_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(other) => panic!("{actor}: unexpected {other}"),
            }
            continue;
        }
        let mut event = common::event(&actor, next, json!({ "n": next }));
        event.id = format!("{actor}#{next}#{}", acknowledged.len());
        match store.save_event(&event).await {
            Ok(()) => {
                acknowledged.insert(next, event.id);
                next += 1;
                progress.acks.fetch_add(1, Ordering::Relaxed);
            }
            Err(StoreError::Backend { .. }) => {
                progress.backend_errors.fetch_add(1, Ordering::Relaxed);
                reload = true;
            }
            Err(StoreError::VersionConflict(c)) => panic!("{actor}: single writer conflicted: {c}"),
            Err(other) => panic!("{actor}: unexpected {other}"),
        }
    }
    acknowledged
}

async fn wait_for_acks(progress: &Progress, at_least: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while progress.acks.load(Ordering::Relaxed) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "writers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_errors_then_the_same_store_serves_again() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let admin = common::raw_client().await;
    let progress = Arc::new(Progress {
        acks: AtomicU64::new(0),
        backend_errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            tokio::spawn(writer(
                test.store.clone(),
                format!("lossy-{i}"),
                Arc::clone(&progress),
            ))
        })
        .collect();

    wait_for_acks(&progress, 200).await;
    // Terminate the store's connections repeatedly, each time while writes are in flight.
    let mut terminated = 0;
    for _ in 0..10 {
        let before = progress.acks.load(Ordering::Relaxed);
        terminated += common::terminate_connections(&admin, &test.app).await;
        wait_for_acks(&progress, before + 20).await;
    }
    let errors_during = progress.backend_errors.load(Ordering::Relaxed);

    // Afterwards the same instance serves every writer again.
    let after = progress.acks.load(Ordering::Relaxed);
    wait_for_acks(&progress, after + 500).await;
    progress.stop.store(true, Ordering::Relaxed);
    let mut histories = Vec::new();
    for (i, task) in writers.into_iter().enumerate() {
        histories.push((format!("lossy-{i}"), task.await.unwrap()));
    }
    assert!(terminated > 0, "the test found the store's connections");
    assert!(
        errors_during > 0,
        "callers saw errors while their connections were being terminated"
    );

    for (actor, acknowledged) in histories {
        let stored: BTreeMap<i64, String> = test
            .store
            .get_events(&actor, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.version, e.id))
            .collect();
        for (version, id) in &acknowledged {
            assert_eq!(
                stored.get(version),
                Some(id),
                "{actor}: acknowledged version {version} is stored as acknowledged"
            );
        }
    }
    eprintln!(
        "terminated {terminated} sessions, {errors_during} backend errors, {} acknowledged",
        progress.acks.load(Ordering::Relaxed)
    );
}

/// A TCP proxy in front of the server that can cut every connection and refuse new ones
/// (an outage), then let them through again.
struct Proxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, mut up_rx) = watch::channel(true);
        tokio::spawn(async move {
            let mut links = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { return };
                        if !*up_rx.borrow() {
                            drop(client); // the server is "down": refuse
                            continue;
                        }
                        let upstream = upstream.clone();
                        links.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(&upstream).await {
                                let mut client = client;
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                    changed = up_rx.changed() => {
                        if changed.is_err() { return; }
                        if !*up_rx.borrow() {
                            links.abort_all(); // cut every open connection
                        }
                    }
                }
            }
        });
        Proxy { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_errors_then_the_same_store_serves_again() {
    let config: tokio_postgres::Config = common::url().parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let (_, schema, app) = common::fresh_builder();
    let proxied = format!(
        "postgres://{}@127.0.0.1:{}/{}",
        config.get_user().unwrap_or("postgres"),
        proxy.port,
        config.get_dbname().unwrap_or("test")
    );
    let store = match PostgresStore::builder(proxied)
        .schema(schema.clone())
        .application_name(app)
        .connect_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .connect()
        .await
    {
        Ok(store) => store,
        Err(err) => return common::unreachable("connect through proxy", err).unwrap_or(()),
    };
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            common::drop_schema_blocking(&self.0);
        }
    }
    let _cleanup = Cleanup(schema);

    let progress = Arc::new(Progress {
        acks: AtomicU64::new(0),
        backend_errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let writers: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(writer(
                store.clone(),
                format!("outage-{i}"),
                Arc::clone(&progress),
            ))
        })
        .collect();
    wait_for_acks(&progress, 100).await;

    // The outage: every connection cut, new ones refused, until errors have been seen.
    proxy.set_up(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while progress.backend_errors.load(Ordering::Relaxed) < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no errors during the outage"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acks_during = progress.acks.load(Ordering::Relaxed);
    let latest = store.get_latest_version("outage-0").await;
    assert!(
        matches!(latest, Err(StoreError::Backend { .. })),
        "a read during the outage is a backend error: {latest:?}"
    );

    // The server is back: the same store instance serves again.
    proxy.set_up(true);
    wait_for_acks(&progress, acks_during + 300).await;
    progress.stop.store(true, Ordering::Relaxed);
    for (i, task) in writers.into_iter().enumerate() {
        let acknowledged = task.await.unwrap();
        let actor = format!("outage-{i}");
        let stored: BTreeMap<i64, String> = store
            .get_events(&actor, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.version, e.id))
            .collect();
        for (version, id) in &acknowledged {
            assert_eq!(
                stored.get(version),
                Some(id),
                "{actor}: acknowledged {version} kept"
            );
        }
    }
}
