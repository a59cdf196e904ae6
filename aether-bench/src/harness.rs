//! Runtimes, client drivers, RSS, stdout silencing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::Client;
use crate::stats::Measured;

/// Every row runs on a fresh multi-thread tokio runtime with 2 workers.
pub fn new_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
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

/// Resident set size of this process (VmRSS), bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Gives freed heap pages back to the OS, so RSS reflects memory in use.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory held by glibc's allocator.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `f` with file descriptor 1 pointed at /dev/null (cqrs-es's `MemStore` prints a
/// line on every load and every commit), then restores stdout.
pub fn with_stdout_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: plain POSIX fd calls on fds we own; every one is checked.
    let saved = unsafe { libc::dup(1) };
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    use std::os::fd::AsRawFd;
    if saved >= 0 {
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    let out = f();
    let _ = std::io::stdout().flush();
    if saved >= 0 {
        unsafe {
            libc::dup2(saved, 1);
            libc::close(saved);
        }
    }
    out
}
