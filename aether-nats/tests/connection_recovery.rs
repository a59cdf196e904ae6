//! A connection dropped mid-run: callers get errors within the request timeout, and the
//! same store works again once the server is reachable, without a restart.
//!
//! The outage is made by a TCP proxy between the store and the server (the shared server
//! itself is never stopped).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_core::testkit::cases::event;
use aether_core::{EventStore, StoreError};
use aether_nats::NatsStore;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to the server while up; while down, cuts the open ones and
/// closes new ones at once.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let pipes = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (up, pipes) = (Arc::clone(&up), Arc::clone(&pipes));
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let target = target.clone();
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    pipes.lock().unwrap().push(pipe);
                }
            }
        });
        Proxy {
            addr,
            up,
            pipes,
            _accept: accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_while_down_then_recovers_without_restart() {
    let Some(direct) = common::fresh_store().await else {
        return;
    };
    let target = common::nats_url().trim_start_matches("nats://").to_owned();
    let proxy = Proxy::start(target).await;
    let store = NatsStore::builder(format!("nats://{}", proxy.addr))
        .namespace(direct.namespace())
        .request_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let actor = "survivor";
    store.save_event(&event(actor, 1)).await.unwrap();

    proxy.down();
    let started = Instant::now();
    let during = event(actor, 2);
    let err = store.save_event(&during).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(
        err.to_string().contains(actor),
        "the error names the actor: {err}"
    );
    let err = store.get_events(actor, 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "errors come within the request timeout: {:?}",
        started.elapsed()
    );

    proxy.up();
    // The client reconnects by itself; poll (bounded) until the store answers again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let latest = loop {
        match store.get_latest_version(actor).await {
            Ok(latest) => break latest,
            Err(StoreError::Backend { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the store did not recover: {err}"),
        }
    };
    // The save made during the outage failed for its caller; it may still have reached
    // the server once the connection was back (its acknowledgement was what got lost).
    assert!(latest == 1 || latest == 2, "latest {latest}");
    store.save_event(&event(actor, latest + 1)).await.unwrap();
    let history = direct.get_events(actor, 0).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=latest + 1).collect::<Vec<_>>()
    );
    if latest == 2 {
        assert_eq!(history[1], during, "a late write is the caller's own event");
    }
    direct.delete_namespace().await.unwrap();
}
