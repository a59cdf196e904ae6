//! Metrics you can scrape: the runtime's metrics (feature `metrics`) recorded by
//! `metrics-exporter-prometheus` and served on `http://127.0.0.1:9898/metrics` in the
//! Prometheus text format. It runs a few commands on the quickstart's account, prints
//! what a scrape of its own endpoint returns, and keeps serving with `--serve`.
//!
//! ```text
//! cargo run --example metrics --features metrics              # prints one scrape
//! cargo run --example metrics --features metrics -- --serve   # then serves until Ctrl-C
//! curl -s http://127.0.0.1:9898/metrics | grep aether_
//! ```
//!
//! Every metric's name and labels: `docs/metrics.md`.

#[allow(dead_code)]
#[path = "quickstart.rs"]
mod quickstart;

use std::net::SocketAddr;
use std::sync::Arc;

use aether::{InMemoryStore, Runtime};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use quickstart::{Account, AccountCommands};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `GET /metrics` (any path, in fact) with the recorder's current text.
async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let body = handle.render();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            // The request itself does not matter: every path answers the metrics.
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

/// What a Prometheus server would read from `addr`.
pub(crate) async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut socket = TcpStream::connect(addr).await?;
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned()))
}

/// Installs the recorder, serves it on `addr` (port 0: any free port), runs a few
/// commands, and returns the address served and one scrape.
pub(crate) async fn run(
    addr: SocketAddr,
) -> Result<(SocketAddr, String), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let listener = TcpListener::bind(addr).await?;
    let served = listener.local_addr()?;
    tokio::spawn(serve(listener, handle));

    let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
    let account = runtime.actor::<Account>("ada");
    account.open("Ada".into()).await?;
    account.deposit(100).await?;
    let _ = account.withdraw(1_000).await; // rejected: counted by outcome
    account.withdraw(30).await?;
    let text = scrape(served).await?;
    runtime.shutdown().await;
    Ok((served, text))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (served, text) = run("127.0.0.1:9898".parse()?).await?;
    for line in text.lines().filter(|l| l.starts_with("aether_")) {
        println!("{line}");
    }
    if std::env::args().any(|a| a == "--serve") {
        println!("serving http://{served}/metrics until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
