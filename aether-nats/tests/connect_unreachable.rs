//! An unreachable server is a clear error within a bounded time, never a hang. These
//! tests need no NATS server.

use std::time::{Duration, Instant};

use aether_nats::{ConnectError, NatsStore};

#[tokio::test]
async fn refused_connection_is_a_clear_error() {
    // A port nobody listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    let err = NatsStore::builder(&url)
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            ConnectError::Unreachable { .. } | ConnectError::Timeout { .. }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&url),
        "the error names the URL: {err}"
    );
}

#[tokio::test]
async fn silent_server_times_out_within_the_connect_timeout() {
    // Accepts TCP connections but never speaks NATS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("nats://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let err = NatsStore::builder(&url)
        .connect_timeout(Duration::from_millis(800))
        .connect()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        matches!(
            err,
            ConnectError::Timeout { .. } | ConnectError::Unreachable { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn invalid_namespace_is_refused_before_dialling() {
    let err = NatsStore::builder("nats://127.0.0.1:4222")
        .namespace("has.dots")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::InvalidNamespace { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn several_unreachable_servers_are_one_clear_error() {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let url = format!(
        "nats://127.0.0.1:{}, nats://127.0.0.1:{}",
        ports[0], ports[1]
    );
    let started = Instant::now();
    let err = NatsStore::builder(&url)
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(
            err,
            ConnectError::Unreachable { .. } | ConnectError::Timeout { .. }
        ),
        "{err:?}"
    );
}
