//! The command path for profiling: one actor, sequential asks on `InMemoryStore`.
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release -p aether-runtime --features testkit --example hot_path
//! perf record -g target/release/examples/hot_path 500000
//! ```

use std::sync::Arc;
use std::time::Instant;

use aether_core::InMemoryStore;
use aether_runtime::testkit::account::{Account, AccountCommand};
use aether_runtime::Runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let runtime = Runtime::new(Arc::new(InMemoryStore::new()));
    let account = runtime.actor::<Account>("hot");
    let started = Instant::now();
    for _ in 0..n {
        account.ask(AccountCommand::Deposit(1)).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} sequential asks in {secs:.2}s = {:.0}/s",
        n as f64 / secs
    );
    runtime.shutdown().await;
}
