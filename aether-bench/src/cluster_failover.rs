//! The `cluster` section's failover rows: member *processes* killed with SIGKILL.
//!
//! Three members each round, on one namespace of the NATS store, default timings
//! (heartbeat 250 ms, dead after 1.5 s of silence, `failover_timeout` 2 s):
//!
//! - `bench`, this process: it picks the victim's actors, sends the asks and holds the
//!   clock;
//! - `m1` and `m2`, child processes (this binary re-run as
//!   `--child cluster-member:<namespace>:<node>`, see [`member_child`]), each a full
//!   member with its own NATS connection, store and tokio runtime (2 workers).
//!
//! A round: wait until the three are placed in the bench's view; take the victim (`m1`
//! and `m2` in turn) and [`SAMPLE`] actors it owns, and ask each once (so each is live on
//! the victim, with one event to rehydrate elsewhere); wait 0–250 ms, a different
//! `1/kills` of the heartbeat period each round ([`jitter`]: the kills fall all over the
//! victims' heartbeat periods); SIGKILL it; at once ask every sampled actor from the
//! bench, one command id each, asked again on every retryable error; then restart the
//! victim under its node id (the next round waits until it is placed again).
//!
//! The clock starts when `kill(2)` has returned and stops at an ask's first successful
//! answer. Rows: the first sampled actor (kill → its first successful ask), all of the
//! sample (kill → the last of them answered), and the first actor again counted from the
//! victim's last heartbeat (the server's timestamp of its key), the span that
//! `failover_timeout` bounds. Each round also prints when the bench's own view dropped the
//! victim. A round that does not finish within [`ROUND_TIMEOUT`] fails the rows (no hang).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether_cluster::{Cluster, ClusterAskError};
use tokio::sync::mpsc;

use crate::client::new_rt;
use crate::cluster::{cleanup, member, Add, Counter};
use crate::stats::{Measured, Row};
use crate::Config;

/// Actors of the victim asked after each kill.
const SAMPLE: usize = 16;
/// Bound of each step of a round (placement, warm-up, failover, restart).
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);
/// The member processes; `bench` is the third member.
const CHILDREN: [&str; 2] = ["m1", "m2"];
const ALL: [&str; 3] = ["bench", "m1", "m2"];
/// The members' heartbeat interval (the default).
const HEARTBEAT: Duration = Duration::from_millis(250);

/// `--child cluster-member:<namespace>:<node>`: joins the cluster, prints `ready`, and
/// serves until its stdin says `leave` or closes (the bench ended), then leaves.
pub fn member_child(spec: &str) {
    let Some((namespace, node)) = spec.split_once(':') else {
        eprintln!("cluster member: bad spec {spec:?} (want <namespace>:<node>)");
        std::process::exit(2);
    };
    new_rt().block_on(async {
        let cluster = match member(namespace, node).await {
            Ok(cluster) => cluster,
            Err(err) => {
                eprintln!("cluster member {node}: {err}");
                std::process::exit(1);
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready").and_then(|()| out.flush());
        drop(out);
        // The member serves on the runtime's workers meanwhile.
        let _ = tokio::task::spawn_blocking(|| {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(line) if line.trim() == "leave" => return,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
        .await;
        cluster.leave().await;
    });
}

/// A member process; its stdout lines arrive on a channel. Killed (and reaped) on drop.
struct Process {
    node: &'static str,
    child: std::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Process {
    fn spawn(namespace: &str, node: &'static str) -> Result<Process, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--child")
            .arg(format!("cluster-member:{namespace}:{node}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start member {node}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Process { node, child, lines })
    }

    /// Waits for the member's `ready` (it has joined).
    async fn ready(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line == "ready" => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("member {} ended before joining", self.node)),
                Err(_) => {
                    return Err(format!(
                        "member {} did not join within {ROUND_TIMEOUT:?}",
                        self.node
                    ))
                }
            }
        }
    }

    /// Asks the member to leave and waits (at most 10 s) for it to exit; killed after.
    async fn leave(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = writeln!(stdin, "leave");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one kill measured.
struct Round {
    /// From the kill to the first sampled actor's answer, and to the last one's.
    first: Duration,
    all: Duration,
    /// From the victim's last heartbeat (server time) to the kill; negative when that
    /// heartbeat landed after the kill (written before it, read by the server later).
    since_heartbeat_ns: i128,
}

pub fn run(cfg: &Config) -> Result<Vec<Row>, String> {
    let kills = if cfg.quick { 5 } else { 20 };
    new_rt().block_on(async {
        let namespace = format!("bench-cluster-fo-{}", std::process::id());
        let bench = member(&namespace, "bench").await?;
        let outcome = rounds(&bench, &namespace, kills).await;
        bench.leave().await;
        cleanup(&bench).await;
        Ok(rows(kills, outcome?))
    })
}

async fn rounds(bench: &Cluster, namespace: &str, kills: usize) -> Result<Vec<Round>, String> {
    let mut procs = Vec::new();
    for node in CHILDREN {
        procs.push(Process::spawn(namespace, node)?);
    }
    for p in &mut procs {
        p.ready().await?;
    }
    let mut done = Vec::new();
    let mut outcome = Ok(());
    for round in 0..kills {
        match one_round(bench, namespace, &mut procs, (round, kills)).await {
            Ok(r) => done.push(r),
            Err(err) => {
                outcome = Err(format!("failover round {round}: {err}"));
                break;
            }
        }
    }
    for p in procs {
        p.leave().await;
    }
    outcome.map(|()| done)
}

async fn one_round(
    bench: &Cluster,
    namespace: &str,
    procs: &mut [Process],
    (round, kills): (usize, usize),
) -> Result<Round, String> {
    if !bench.wait_for_members(&ALL, ROUND_TIMEOUT).await {
        return Err(format!(
            "the three members were not placed within {ROUND_TIMEOUT:?}; bench sees {:?}",
            bench.members()
        ));
    }
    let v = round % 2;
    let (victim, survivor) = (CHILDREN[v], CHILDREN[1 - v]);
    let ids: Vec<String> = (0..100_000)
        .map(|i| format!("r{round}-{i}"))
        .filter(|id| bench.actor::<Counter>(id).owner().as_deref() == Some(victim))
        .take(SAMPLE)
        .collect();
    let warm = async {
        for id in &ids {
            let actor = bench.actor::<Counter>(id);
            actor.ask(Add(1)).await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    };
    match tokio::time::timeout(ROUND_TIMEOUT, warm).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(format!("{victim} does not serve its actors: {err}")),
        Err(_) => return Err(format!("{victim} did not serve within {ROUND_TIMEOUT:?}")),
    }
    tokio::time::sleep(jitter(round, kills)).await;

    procs[v]
        .child
        .kill()
        .map_err(|e| format!("cannot SIGKILL {victim}: {e}"))?;
    let killed = Instant::now();
    let killed_wall = SystemTime::now();
    let view = {
        let bench = bench.clone();
        tokio::spawn(async move {
            let dropped = bench
                .wait_for_members(&["bench", survivor], ROUND_TIMEOUT)
                .await;
            dropped.then(Instant::now)
        })
    };
    let mut asks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let actor = bench.actor::<Counter>(id);
            let command_id = format!("{namespace}-r{round}-{i}");
            tokio::spawn(async move {
                loop {
                    match actor.ask_with_id(Add(1), command_id.clone()).await {
                        Ok(_) | Err(ClusterAskError::Duplicate { .. }) => return Ok(Instant::now()),
                        Err(err) if err.is_retryable() => {}
                        Err(err) => return Err(err.to_string()),
                    }
                }
            })
        })
        .collect();
    let answers = tokio::time::timeout(ROUND_TIMEOUT, async {
        let mut at = Vec::new();
        for ask in &mut asks {
            at.push(ask.await.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(at)
    })
    .await;
    let answers = match answers {
        Ok(answers) => answers?,
        Err(_) => {
            asks.iter().for_each(tokio::task::JoinHandle::abort);
            return Err(format!(
                "the actors of the killed {victim} did not all answer within \
                 {ROUND_TIMEOUT:?}; bench sees {:?}",
                bench.members()
            ));
        }
    };
    let first = answers[0] - killed;
    let all = answers.iter().max().map_or(first, |at| *at - killed);
    let dropped = view.await.ok().flatten().map(|at| at - killed);
    let since_heartbeat_ns = since_last_heartbeat(bench, victim, killed_wall).await?;
    let on_bench = ids
        .iter()
        .filter(|id| bench.actor::<Counter>(id).owner().as_deref() == Some("bench"))
        .count();
    eprintln!(
        "  failover round {round}: SIGKILL {victim} {} ms after its last heartbeat; \
         dropped from bench's view +{}; first actor answered +{:.3} s, all {SAMPLE} +{:.3} s \
         ({on_bench} now on bench, {} on {survivor})",
        since_heartbeat_ns / 1_000_000,
        dropped.map_or("never".to_owned(), |d| format!("{:.3} s", d.as_secs_f64())),
        first.as_secs_f64(),
        all.as_secs_f64(),
        SAMPLE - on_bench,
    );

    // Reaps the killed process, then starts the member again under its node id.
    procs[v] = Process::spawn(namespace, victim)?;
    procs[v].ready().await?;
    Ok(Round {
        first,
        all,
        since_heartbeat_ns,
    })
}

/// How long before `killed` the victim's last heartbeat reached the server (its key's
/// timestamp in the members bucket).
async fn since_last_heartbeat(
    bench: &Cluster,
    victim: &str,
    killed: SystemTime,
) -> Result<i128, String> {
    let js = async_nats::jetstream::new(bench.store().client().clone());
    let [_, members] = aether_cluster::bucket_names(bench.namespace());
    let kv = js
        .get_key_value(members)
        .await
        .map_err(|e| format!("the members bucket: {e}"))?;
    let entry = kv
        .entry(format!("members.{victim}"))
        .await
        .map_err(|e| format!("{victim}'s heartbeat key: {e}"))?
        .ok_or_else(|| format!("{victim}'s heartbeat key is gone"))?;
    let killed = killed.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(killed.as_nanos() as i128 - entry.created.unix_timestamp_nanos())
}

/// The wait before round `round`'s kill: a different `1/kills` of the heartbeat period
/// (250 ms) each round, in an order that gives each victim (rounds alternate) a spread of
/// them, so the kills fall all over the victims' heartbeat periods.
fn jitter(round: usize, kills: usize) -> Duration {
    let kills = kills.max(1) as u32;
    HEARTBEAT * ((round as u32 * 7) % kills) / kills
}

fn rows(kills: usize, rounds: Vec<Round>) -> Vec<Row> {
    let wl = format!("cluster: failover, {kills} SIGKILLs of a member process (3 members)");
    let measured = |ns: Vec<u64>| {
        Measured {
            ops: ns.len() as u64,
            secs: 0.0,
            lat: ns,
        }
        .finish()
    };
    let firsts = measured(rounds.iter().map(|r| r.first.as_nanos() as u64).collect());
    let alls = measured(rounds.iter().map(|r| r.all.as_nanos() as u64).collect());
    let from_heartbeat = measured(
        rounds
            .iter()
            .map(|r| (r.first.as_nanos() as i128 + r.since_heartbeat_ns).max(0) as u64)
            .collect(),
    );
    let bound = Duration::from_secs(2);
    let row = |system: String, m: &Measured, note: String| {
        let max = m.lat.last().map(|ns| Duration::from_nanos(*ns));
        let row = Row::value(
            &wl,
            system,
            max.map_or(0.0, |d| d.as_secs_f64() * 1e3),
            "ms max",
        )
        .lat(m.pct(0.5), m.pct(0.99))
        .note(note);
        crate::progress(Some(&row));
        row
    };
    let holds = |m: &Measured| {
        let (Some(p50), Some(max)) = (m.pct(0.5), m.pct(1.0)) else {
            return String::new();
        };
        if max <= bound {
            "the 2 s default holds (p50 and max)".to_owned()
        } else if p50 <= bound {
            "the 2 s default holds at p50, NOT at max".to_owned()
        } else {
            "the 2 s default does NOT hold".to_owned()
        }
    };
    vec![
        row(
            "SIGKILL → first successful ask of an actor it owned (from a surviving member)"
                .to_owned(),
            &firsts,
            format!(
                "default timings; member processes, ask from the bench member; \
                 p99 column = max of {kills}; {}",
                holds(&firsts)
            ),
        ),
        row(
            format!("SIGKILL → all {SAMPLE} sampled actors it owned answered"),
            &alls,
            "asked at once, concurrently; the victim's shards split between the survivors"
                .to_owned(),
        ),
        row(
            "its last heartbeat → that first answer (the span failover_timeout bounds)".to_owned(),
            &from_heartbeat,
            holds(&from_heartbeat),
        ),
    ]
}
