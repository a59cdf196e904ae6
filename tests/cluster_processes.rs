//! The cluster with real member processes on loopback, sharing NATS JetStream and the
//! NATS store (#13):
//!
//! - `cluster_members_killed_and_restarted_lose_nothing`: three members run load from
//!   every one of them while members are SIGKILLed and restarted at random (12 times,
//!   `AETHER_CLUSTER_KILLS` to change); then no acknowledged command is lost, no command
//!   id is applied twice, every actor's state equals the replay of its events, and the
//!   retries (asks whose owner died with them in flight, or that conflicted) are counted
//!   and printed.
//! - `cluster_graceful_leave_and_rejoin_fail_nothing`: a member leaves gracefully under
//!   the others' load and joins again: not one ask fails or even needs a retry.
//!
//! Each member is this test binary re-run in a child mode (`AETHER_CLUSTER_CHILD`). Its
//! stdout lines: `ready`, `ack <command id> <actor>` per acknowledged command, `retry
//! <kind>` per failed attempt retried with the same command id, `gaveup` when the retries
//! ran out, `error <message>` for anything else, `decides <n>` now and then, `stopped`,
//! `left`, `conflict <command id>` when a command is decided again after a version
//! conflict. It reads `stop` (end the load) and `leave` (leave the cluster, exit) on stdin.
#![cfg(feature = "cluster")]

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether::cluster::{Cluster, ClusterAskError};
use cluster_common::{
    child_tokio, nats, seed, verify, Child, Reports, Rng, Tally, TallyCmd, DECIDES,
};

const CHILD_ENV: &str = "AETHER_CLUSTER_CHILD";
const ACTORS: usize = 24;
const WORKERS: usize = 2;

/// One test at a time: each runs three member processes on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn actors() -> Vec<String> {
    (0..ACTORS).map(|i| format!("t{i}")).collect()
}

// ---------------------------------------------------------------------------------------
// The child: one member

/// `AETHER_CLUSTER_CHILD=<namespace>|<node>|<seed>`.
fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (Some(namespace), Some(node), Some(seed)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("bad child spec {spec:?}");
    };
    let seed: u64 = seed.parse().expect("seed");
    child_tokio().block_on(async move {
        let store = nats::connect(namespace)
            .await
            .unwrap_or_else(|err| panic!("NATS not reachable in the child: {err}"));
        let cluster = match Cluster::builder(store, node)
            .register::<Tally>()
            .join()
            .await
        {
            Ok(cluster) => cluster,
            Err(err) => {
                println!("error cannot join: {err}");
                std::process::exit(1);
            }
        };
        // The test harness has printed "test <name> ... " without a newline.
        println!();
        println!("ready");
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let incarnation = &uuid_like(seed)[..8];
        let mut workers = Vec::new();
        for w in 0..WORKERS {
            let (cluster, stop) = (cluster.clone(), stop.clone());
            let prefix = format!("{node}-{incarnation}-{w}");
            let mut rng = Rng::new(seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9));
            workers.push(tokio::spawn(async move {
                let actors = actors();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let id = &actors[rng.range(0, ACTORS as u64 - 1) as usize];
                    let cmd = format!("{prefix}-{seq}");
                    let n = rng.range(1, 9);
                    add(&cluster, id, cmd, n).await;
                }
            }));
        }
        // With AETHER_CLUSTER_DEBUG set, each change of this member's view goes to stderr.
        let watcher = cluster.clone();
        let node_name = node.to_owned();
        let debug = std::env::var("AETHER_CLUSTER_DEBUG").is_ok();
        tokio::spawn(async move {
            let mut last = Vec::new();
            let t0 = Instant::now();
            loop {
                let now = watcher.members();
                if now != last && debug {
                    eprintln!("[{node_name} {:?}] view {now:?}", t0.elapsed());
                    last = now;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let reporter = tokio::spawn(async {
            loop {
                println!("decides {}", DECIDES.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        while let Some(line) = lines.recv().await {
            match line.as_str() {
                "stop" => {
                    stop.store(true, Ordering::Relaxed);
                    for worker in workers.drain(..) {
                        worker.await.expect("a worker");
                    }
                    println!("decides {}", DECIDES.load(Ordering::Relaxed));
                    println!("stopped");
                }
                "leave" => {
                    reporter.abort();
                    cluster.leave().await;
                    println!("left");
                    return;
                }
                other => panic!("unknown line {other:?}"),
            }
        }
    });
}

fn uuid_like(seed: u64) -> String {
    format!("{:016x}", Rng::new(seed).next_u64())
}

/// One add, retried with the same command id while the error says a retry may succeed.
async fn add(cluster: &Cluster, id: &str, cmd: String, n: u64) {
    let actor = cluster.actor::<Tally>(id);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let command = TallyCmd::Add {
            cmd: cmd.clone(),
            n,
        };
        match actor.ask_with_id(command, cmd.clone()).await {
            // Applied now, or before (a retry of an id whose first attempt got through).
            Ok(_) | Err(ClusterAskError::Duplicate { .. }) => {
                println!("ack {cmd} {id}");
                return;
            }
            Err(err) if err.is_retryable() => {
                let kind = match &err {
                    ClusterAskError::Unreachable { .. } => "unreachable",
                    ClusterAskError::Unavailable { .. } => "unavailable",
                    ClusterAskError::Conflict { .. } => "conflict",
                    _ => "failed",
                };
                println!("retry {kind}");
                eprintln!("[{}] retrying after: {err}", cluster.node());
                if Instant::now() >= deadline {
                    println!("gaveup");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => {
                println!("error {err}");
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent

struct Members {
    test: &'static str,
    namespace: String,
    seed: u64,
    children: Vec<Option<Child>>,
    /// Each child's incarnation name (`m1#4`: the fourth start of any member).
    names: Vec<String>,
    /// Starts so far.
    restarts: u64,
    reports: Reports,
}

impl Members {
    fn start(test: &'static str, namespace: &str, seed: u64) -> Members {
        let mut members = Members {
            test,
            namespace: namespace.to_owned(),
            seed,
            children: (0..3).map(|_| None).collect(),
            names: vec![String::new(); 3],
            restarts: 0,
            reports: Reports::default(),
        };
        for i in 0..3 {
            members.spawn(i);
        }
        members
    }

    fn node(i: usize) -> String {
        format!("m{i}")
    }

    fn spawn(&mut self, i: usize) {
        self.restarts += 1;
        let spec = format!(
            "{}|{}|{}",
            self.namespace,
            Self::node(i),
            self.seed.wrapping_add(self.restarts.wrapping_mul(7919))
        );
        let child = Child::spawn(self.test, &[(CHILD_ENV, spec)]);
        let who = format!("{}#{}", Self::node(i), self.restarts);
        let reports = &mut self.reports;
        child.wait_for_seeing("ready", Duration::from_secs(30), |line| {
            reports.take(&who, line)
        });
        self.names[i] = who;
        self.children[i] = Some(child);
    }

    fn who(&self, i: usize) -> String {
        self.names[i].clone()
    }

    /// Reads every child's lines until `acks` more commands are acknowledged.
    fn run_until_acks(&mut self, acks: usize, timeout: Duration) {
        let target = self.reports.acked.len() + acks;
        let deadline = Instant::now() + timeout;
        while self.reports.acked.len() < target {
            assert!(
                Instant::now() < deadline,
                "only {} of {target} acks within {timeout:?}; errors: {:?}",
                self.reports.acked.len(),
                self.reports.errors
            );
            self.pump();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pump(&mut self) {
        for i in 0..self.children.len() {
            let who = self.who(i);
            if let Some(child) = &self.children[i] {
                for line in child.drain() {
                    self.reports.take(&who, &line);
                }
            }
        }
    }

    fn kill(&mut self, i: usize) {
        self.pump();
        let who = self.who(i);
        let child = self.children[i].take().expect("a running child");
        for line in child.kill() {
            self.reports.take(&who, &line);
        }
    }

    /// Stops the load of child `i`, makes it leave, and waits for it to exit.
    fn leave(&mut self, i: usize) {
        self.pump();
        let who = self.who(i);
        let mut child = self.children[i].take().expect("a running child");
        child.send_line("stop");
        let reports = &mut self.reports;
        child.wait_for_seeing("stopped", Duration::from_secs(60), |line| {
            reports.take(&who, line)
        });
        child.send_line("leave");
        for line in child.finish(Duration::from_secs(60)) {
            self.reports.take(&who, &line);
        }
    }

    /// Stops every child's load, then makes them leave one by one.
    fn stop_all(&mut self) {
        for i in 0..self.children.len() {
            let who = self.who(i);
            if let Some(child) = &mut self.children[i] {
                child.send_line("stop");
                let reports = &mut self.reports;
                child.wait_for_seeing("stopped", Duration::from_secs(60), |line| {
                    reports.take(&who, line)
                });
            }
        }
        for i in 0..self.children.len() {
            if self.children[i].is_some() {
                self.leave_stopped(i);
            }
        }
    }

    fn leave_stopped(&mut self, i: usize) {
        let who = self.who(i);
        let mut child = self.children[i].take().expect("a running child");
        child.send_line("leave");
        for line in child.finish(Duration::from_secs(60)) {
            self.reports.take(&who, &line);
        }
    }
}

#[test]
fn cluster_members_killed_and_restarted_lose_nothing() {
    const TEST: &str = "cluster_members_killed_and_restarted_lose_nothing";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    child_tokio().block_on(async {
        let Some((namespace, _guard)) = nats::fresh("cluster-kill").await else {
            return;
        };
        let store = Arc::new(
            nats::connect(&namespace)
                .await
                .expect("NATS reachable a moment ago"),
        );
        let seed = seed();
        println!("seed {seed} (AETHER_SEED replays), namespace {namespace}");
        let kills: usize = std::env::var("AETHER_CLUSTER_KILLS")
            .ok()
            .and_then(|k| k.parse().ok())
            .unwrap_or(12);
        let started = Instant::now();
        let mut rng = Rng::new(seed);
        let mut members = Members::start(TEST, &namespace, seed);
        members.run_until_acks(50, Duration::from_secs(30));
        for round in 0..kills {
            let victim = rng.range(0, 2) as usize;
            members.kill(victim);
            // Load goes on on the others (and reaches the victim's actors once they fail
            // over) before the victim comes back under the same node id.
            members.run_until_acks(rng.range(10, 40) as usize, Duration::from_secs(30));
            members.spawn(victim);
            members.run_until_acks(rng.range(10, 40) as usize, Duration::from_secs(30));
            println!(
                "round {round}: killed and restarted m{victim}; {} acks so far",
                members.reports.acked.len()
            );
        }
        members.stop_all();
        let reports = &members.reports;
        assert!(reports.errors.is_empty(), "errors: {:?}", reports.errors);
        let verified = verify(Arc::clone(&store), &actors(), reports).await;
        assert!(verified.events >= reports.acked.len() as u64);
        println!(
            "{kills} kills in {:?}: {} acknowledged commands, {} events in {} actors \
             (applied, unacknowledged: killed in flight: {}), retried asks by kind {:?}, \
             {} given up, {} version conflicts",
            started.elapsed(),
            reports.acked.len(),
            verified.events,
            verified.actors,
            verified.events - reports.acked.len() as u64,
            reports.retried,
            reports.given_up,
            reports.conflicts,
        );
        aether::cluster::delete_buckets(&store).await;
    });
}

#[test]
fn cluster_graceful_leave_and_rejoin_fail_nothing() {
    const TEST: &str = "cluster_graceful_leave_and_rejoin_fail_nothing";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    child_tokio().block_on(async {
        let Some((namespace, _guard)) = nats::fresh("cluster-leave").await else {
            return;
        };
        let store = Arc::new(
            nats::connect(&namespace)
                .await
                .expect("NATS reachable a moment ago"),
        );
        let seed = seed();
        println!("seed {seed}, namespace {namespace}");
        let mut members = Members::start(TEST, &namespace, seed);
        members.run_until_acks(100, Duration::from_secs(30));
        for _ in 0..2 {
            members.leave(2);
            members.run_until_acks(100, Duration::from_secs(30));
            members.spawn(2);
            members.run_until_acks(100, Duration::from_secs(30));
        }
        members.stop_all();
        let reports = &members.reports;
        assert!(reports.errors.is_empty(), "errors: {:?}", reports.errors);
        assert!(
            reports.retried.is_empty() && reports.given_up == 0,
            "asks needed retries across a graceful leave: {:?}",
            reports.retried
        );
        assert_eq!(
            reports.conflicts, 0,
            "two owners at once across a graceful leave"
        );
        let verified = verify(Arc::clone(&store), &actors(), reports).await;
        assert_eq!(verified.events, reports.acked.len() as u64);
        println!(
            "graceful leave and rejoin twice: {} acknowledged commands, no failed ask",
            reports.acked.len()
        );
        aether::cluster::delete_buckets(&store).await;
    });
}
