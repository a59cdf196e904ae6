//! The client side shared by every row: one client per actor, timed ops, the runtime.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Measured;

/// One client's handle to its own account: `op` makes one deposit and waits for the reply.
pub trait Client: Send + 'static {
    fn op(&mut self) -> impl Future<Output = ()> + Send;
}

/// Every row runs on a fresh multi-thread tokio runtime with 2 workers.
pub fn new_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `fut` as a task of `rt` (on a worker thread, like application code), so actors
/// and clients it spawns start in a worker's queue rather than the injection queue.
pub fn on_worker<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async { tokio::spawn(fut).await.expect("measurement task") })
}

/// Runs every client in its own task, each in a loop of `op`s, for `dur`; returns the
/// total ops, the wall time and every op's latency.
pub async fn run_clients<C: Client>(clients: Vec<C>, dur: Duration) -> (Measured, Vec<C>) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(1024);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    client.op().await;
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                (lat, client)
            })
        })
        .collect();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut m = Measured::default();
    let mut back = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (lat, client) = task.await.expect("client task");
        m.ops += lat.len() as u64;
        m.lat.extend(lat);
        back.push(client);
    }
    m.secs = started.elapsed().as_secs_f64();
    (m.finish(), back)
}

/// A warm-up pass (a fifth of `dur`, at most 1 s), then the measured pass.
pub async fn warm_then_run<C: Client>(clients: Vec<C>, dur: Duration) -> Measured {
    let warm = (dur / 5).min(Duration::from_secs(1));
    let (_, clients) = run_clients(clients, warm).await;
    run_clients(clients, dur).await.0
}

/// `n` sequential ops of one client, each timed.
pub async fn run_n<C: Client>(client: &mut C, n: usize) -> Measured {
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        client.op().await;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    Measured {
        ops: n as u64,
        secs: started.elapsed().as_secs_f64(),
        lat,
    }
    .finish()
}
