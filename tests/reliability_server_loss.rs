//! Server loss mid-run: while one runtime serves deposits from concurrent clients, the
//! store's server connections are lost again and again (PostgreSQL: the test's own
//! sessions are terminated with `pg_terminate_backend`, selected by application name;
//! NATS: a TCP proxy between the store and the server is cut and restored, so the
//! shared server is never disturbed). The test checks that
//!
//! - callers get errors while an outage lasts, and every ask resolves (nothing hangs);
//! - service resumes after each outage without a restart: the same `Runtime` and the
//!   same `ActorRef`s acknowledge commands again;
//! - nothing acknowledged is lost, and nothing is applied twice: each client retries a
//!   failed command with the same command id until it is acknowledged (or reported as a
//!   duplicate, which means an earlier attempt landed with its acknowledgement lost), so
//!   in the end every command is stored exactly once; one acknowledged command in 8 is
//!   sent again with its id and must get its first reply or `Duplicate`; the stored
//!   events carrying each id are counted to one application's worth;
//! - each actor's state, in the serving runtime and in a fresh one, equals a full replay.
//!
//! ```text
//! cargo test --all-features --test reliability_server_loss -- --nocapture
//! ```
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod process_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether::{ActorRef, AskError, AskOptions, Runtime, SnapshotStore};
use process_common::{resend_acknowledged, verify, Ack, Bank, BankCmd, Rng};

const ACTORS: usize = 50;
const CLIENTS: usize = 16;

#[derive(Default)]
struct Progress {
    acks: AtomicU64,
    /// Retries answered `Duplicate`: an attempt had landed with its acknowledgement lost.
    duplicates: AtomicU64,
    /// Acknowledged commands sent again with the same id (not applied again).
    resent: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    stop: AtomicBool,
}

fn kind<E>(err: &AskError<E>) -> &'static str {
    match err {
        AskError::Store { .. } => "store",
        AskError::StartFailed(_) => "start failed",
        AskError::Timeout { .. } => "timeout",
        AskError::Conflict { .. } => "conflict",
        AskError::Stopped { .. } => "stopped",
        AskError::Panicked { .. } => "panicked",
        _ => "other",
    }
}

/// Deposits until told to stop; retries each command with its command id until it is
/// acknowledged or known to have landed. Returns its acknowledgements.
async fn client(
    refs: Arc<Vec<ActorRef<Bank>>>,
    id: usize,
    seed: u64,
    progress: Arc<Progress>,
) -> Vec<Ack> {
    let mut rng = Rng::new(seed ^ id as u64);
    let mut acks = Vec::new();
    let mut n = 0;
    while !progress.stop.load(Ordering::Relaxed) {
        let actor = &refs[rng.range(0, ACTORS as u64 - 1) as usize];
        let cmd = format!("c{id}-n{n}");
        n += 1;
        let amount = rng.range(1, 100) as i64;
        let parts = rng.range(1, 3) as u32;
        let mut attempts = 0;
        let (version, reply) = loop {
            attempts += 1;
            let result = actor
                .ask_with(
                    BankCmd::deposit(&cmd, amount, parts),
                    AskOptions::new().command_id(&cmd),
                )
                .await;
            match result {
                Ok(state) => break (state.events, Some(state)),
                // An earlier attempt was stored, its acknowledgement lost.
                Err(AskError::Duplicate { version, .. }) => {
                    progress.duplicates.fetch_add(1, Ordering::Relaxed);
                    break (version as u64, None);
                }
                Err(err) => {
                    assert!(
                        err.is_retryable() && !matches!(err, AskError::Conflict { .. }),
                        "{cmd}: unexpected {err}"
                    );
                    *progress
                        .errors
                        .lock()
                        .unwrap()
                        .entry(kind(&err))
                        .or_default() += 1;
                    assert!(attempts < 2_000, "{cmd}: still failing: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        // One in 8: the same command id again after its acknowledgement, as a client
        // whose acknowledgement got lost would. It must not be applied twice.
        if let Some(first) = reply.filter(|_| rng.range(0, 7) == 0) {
            let again = BankCmd::deposit(&cmd, amount, parts);
            if let Err(wrong) = resend_acknowledged(actor, again, &cmd, &first).await {
                panic!("{wrong}");
            }
            progress.resent.fetch_add(1, Ordering::Relaxed);
        }
        acks.push(Ack {
            actor: actor.id().to_owned(),
            cmd,
            version,
            amount,
            parts,
        });
        progress.acks.fetch_add(1, Ordering::Relaxed);
    }
    acks
}

async fn wait_for_acks(progress: &Progress, more_than: u64, within: Duration) -> Duration {
    let started = Instant::now();
    while progress.acks.load(Ordering::Relaxed) <= more_than {
        assert!(
            started.elapsed() < within,
            "no command acknowledged within {within:?}: service did not resume"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// Serves deposits while `outage` is run `outages` times, then checks everything.
async fn serve_through_outages<F, Fut>(
    label: &str,
    store: Arc<dyn SnapshotStore>,
    outages: usize,
    outage: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let seed = process_common::seed();
    eprintln!("{label}: seed {seed}, {outages} outages, {CLIENTS} clients over {ACTORS} actors");
    let runtime = Runtime::builder(Arc::clone(&store))
        .snapshot_every(4)
        .passivate_after(Some(Duration::from_millis(300)))
        .ask_timeout(Some(Duration::from_secs(15)))
        .build();
    let refs: Arc<Vec<ActorRef<Bank>>> = Arc::new(
        (0..ACTORS)
            .map(|a| runtime.actor::<Bank>(format!("srv-{a}")))
            .collect(),
    );
    let progress = Arc::new(Progress::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(Arc::clone(&refs), id, seed, Arc::clone(&progress))))
        .collect();
    let started = Instant::now();
    wait_for_acks(&progress, 100, Duration::from_secs(30)).await;
    let mut recoveries = Vec::new();
    for _ in 0..outages {
        let errors_before: u64 = progress.errors.lock().unwrap().values().sum();
        outage().await;
        let acks = progress.acks.load(Ordering::Relaxed);
        // Service resumes: the same runtime and handles acknowledge commands again.
        recoveries.push(wait_for_acks(&progress, acks + 20, Duration::from_secs(60)).await);
        let errors_after: u64 = progress.errors.lock().unwrap().values().sum();
        eprintln!(
            "{label}: outage done, {} errors during it, {acks} acknowledged so far",
            errors_after - errors_before
        );
    }
    progress.stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    for c in clients {
        // Every ask resolves: a client finishes its last command and returns.
        let mine = tokio::time::timeout(Duration::from_secs(120), c)
            .await
            .expect("a client hung")
            .expect("a client failed");
        acks.extend(mine);
    }
    let elapsed = started.elapsed();
    let errors = progress.errors.lock().unwrap().clone();
    let total_errors: u64 = errors.values().sum();
    assert!(
        total_errors > 0,
        "{label}: no caller saw an error: the outages did not bite"
    );

    // The serving runtime's state equals a full replay.
    for actor in refs.iter() {
        let state = actor
            .ask(BankCmd::Get)
            .await
            .expect("the serving runtime answers");
        let events = store.get_events(actor.stored_id(), 0).await.unwrap();
        assert_eq!(
            state,
            Bank::replay(&events),
            "{}: serving runtime",
            actor.id()
        );
    }
    runtime.shutdown().await;
    let names: Vec<String> = refs.iter().map(|r| r.id().to_owned()).collect();
    let found = verify(Arc::clone(&store), &names, &acks).await;
    assert_eq!(
        found.unacknowledged, 0,
        "{label}: commands stored without an acknowledgement: {:?}",
        found.unacknowledged_ids
    );
    let resent = progress.resent.load(Ordering::Relaxed);
    eprintln!(
        "{label}: {} commands acknowledged exactly once ({} events, {} command ids each stored once; {} after a lost acknowledgement, answered Duplicate on retry; {resent} resent after their acknowledgement), errors by kind {errors:?}, recovery after each outage {recoveries:.2?}, {elapsed:.1?}",
        acks.len(),
        found.events,
        found.command_ids,
        progress.duplicates.load(Ordering::Relaxed)
    );
    assert!(
        resent > 0,
        "{label}: no acknowledged command was resent: the test did not test"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_terminated_repeatedly_lose_nothing() {
    use process_common::pg;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let schema = process_common::unique_name("aether_rel_loss");
    let _guard = pg::SchemaGuard(schema.clone());
    let app = process_common::unique_name("aether_rel_loss");
    let store = pg::builder(&schema, &app)
        .connect()
        .await
        .expect("connect to PostgreSQL");
    let (admin, app) = (&admin, &app);
    let terminated = Arc::new(AtomicU64::new(0));
    let outages = if process_common::heavy() { 40 } else { 8 };
    serve_through_outages("postgres", Arc::new(store), outages, || {
        let terminated = Arc::clone(&terminated);
        async move {
            // Each outage: terminate the test's own sessions every 20 ms for 300 ms.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                terminated.fetch_add(pg::terminate(admin, app).await as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await;
    eprintln!(
        "postgres: {} sessions terminated",
        terminated.load(Ordering::Relaxed)
    );
}

#[cfg(feature = "nats")]
mod nats {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aether::nats::NatsStore;

    use super::serve_through_outages;

    /// A TCP proxy on std threads: forwards while up; `cut` closes every open
    /// connection and refuses new ones until `restore`.
    struct Proxy {
        addr: std::net::SocketAddr,
        up: Arc<AtomicBool>,
        open: Arc<Mutex<Vec<TcpStream>>>,
    }

    impl Proxy {
        fn start(target: String) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let up = Arc::new(AtomicBool::new(true));
            let open = Arc::new(Mutex::new(Vec::new()));
            let (up2, open2) = (Arc::clone(&up), Arc::clone(&open));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if !up2.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        continue;
                    };
                    let mut open = open2.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                    pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                    pipe(server, client);
                }
            });
            Proxy { addr, up, open }
        }

        fn cut(&self) {
            self.up.store(false, Ordering::SeqCst);
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }

        fn restore(&self) {
            self.up.store(true, Ordering::SeqCst);
        }
    }

    fn pipe(mut from: TcpStream, mut to: TcpStream) {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_connection_cut_repeatedly_loses_nothing() {
        let url = crate::process_common::servers::nats_url();
        let target = url
            .trim_start_matches("nats://")
            .split(',')
            .next()
            .unwrap()
            .to_owned();
        if let Err(err) = TcpStream::connect(&target) {
            return crate::process_common::unreachable("NATS", err);
        }
        let proxy = Proxy::start(target);
        // Deleted when the test ends, passed or failed; the "test-<secs>-" form lets the
        // NATS tests' sweeper delete it after a killed run.
        let namespace = crate::process_common::servers::nats_namespace("relloss");
        let _guard = crate::process_common::servers::NamespaceGuard(namespace.clone());
        let store = NatsStore::builder(format!("nats://{}", proxy.addr))
            .namespace(&namespace)
            .request_timeout(Duration::from_secs(1))
            .connect()
            .await
            .expect("connect to NATS through the proxy");
        let store = Arc::new(store);
        let proxy = &proxy;
        let outages = if crate::process_common::heavy() {
            10
        } else {
            3
        };
        serve_through_outages("nats", store.clone(), outages, || async move {
            proxy.cut();
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            proxy.restore();
        })
        .await;
    }
}
