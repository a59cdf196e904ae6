//! Two processes, one store, the same actors: two child processes, each with its own
//! runtime, deposit known amounts into the same 10 actors at the same time and print
//! each acknowledged command. Each runtime's actor only learns of the other's writes
//! through the store's version check (a conflict), catches up and decides again
//! (invariant 7). The test checks that
//!
//! - every acknowledged command is stored, whole, at the acknowledged version;
//! - no update is lost: each actor's balance is exactly the sum of the deposits
//!   acknowledged to it (plus those whose outcome a store error left unknown and that
//!   did land), and a command that failed with `AskError::Conflict` is not stored;
//! - no command id is applied twice: one acknowledged command in 8 is sent again with
//!   its id (as after a lost acknowledgement) and must get its first reply or
//!   `AskError::Duplicate`, and the stored events carrying each id are counted to one
//!   application's worth;
//! - each actor's state from a fresh runtime equals a full replay.
//!
//! It runs on SQLite, PostgreSQL and NATS JetStream (whose only protection against a
//! lost update is the server's expected-last-subject-sequence check).
//!
//! It prints the conflicts: `AskError::Conflict` surfaced after the retries, and the
//! retries themselves (every `decide` of a deposit is counted; decides beyond one per
//! command are retries after a conflict).
//!
//! ```text
//! cargo test --all-features --test reliability_two_processes -- --nocapture
//! AETHER_HEAVY=1 cargo test ... # 20,000 commands per process instead of 2,000
//! ```
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod process_common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{AskError, AskOptions, Runtime};
use process_common::{
    resend_acknowledged, say, verify, Ack, Bank, BankCmd, Child, Rng, StoreSpec, DECIDES,
};

const CHILD_ENV: &str = "AETHER_REL_TWO_CHILD";
const ACTORS: usize = 10;
const CLIENTS: usize = 8;
const CONFLICT_RETRIES: u32 = 30;

fn commands_per_process() -> usize {
    if process_common::heavy() {
        20_000
    } else {
        2_000
    }
}

fn actor_names() -> Vec<String> {
    (0..ACTORS).map(|a| format!("shared-{a}")).collect()
}

/// The child: `AETHER_REL_TWO_CHILD=<store spec>|<name>|<commands>|<seed>`. Prints
/// `ACK ...` per acknowledged command, `CONFLICT <actor> <cmd> <attempts>` per
/// `AskError::Conflict`, `UNKNOWN <actor> <cmd>` per store error (the command may or may
/// not be stored), and at the end `STATS <commands> <decides>`.
fn child(spec: &str) {
    // End the test harness's "test <name> ... " line, so the first ACK is a line of its own.
    say("");
    let mut parts = spec.split('|');
    let store = StoreSpec::decode(parts.next().unwrap());
    let name = parts.next().unwrap().to_owned();
    let commands: usize = parts.next().unwrap().parse().unwrap();
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let rt = process_common::child_tokio();
    rt.block_on(async move {
        let store = store.open().await;
        let runtime = Runtime::builder(store)
            .snapshot_every(5)
            .passivate_after(Some(Duration::from_millis(200)))
            .conflict_retries(CONFLICT_RETRIES)
            .build();
        // Start together: the parent says GO once both children are ready.
        say("READY");
        process_common::wait_for_line_on_stdin();
        let names = Arc::new(actor_names());
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..CLIENTS {
            let (runtime, names, name) = (runtime.clone(), Arc::clone(&names), name.clone());
            let mut rng = Rng::new(seed ^ ((client as u64) << 8) ^ name.len() as u64);
            clients.spawn(async move {
                for n in (client..commands).step_by(CLIENTS) {
                    let actor = &names[rng.range(0, ACTORS as u64 - 1) as usize];
                    let amount = rng.range(1, 100) as i64;
                    let parts = rng.range(1, 2) as u32;
                    let cmd = format!("{name}-{n}");
                    let result = runtime
                        .actor::<Bank>(actor)
                        .ask_with(
                            BankCmd::deposit(&cmd, amount, parts),
                            AskOptions::new().command_id(&cmd),
                        )
                        .await;
                    match result {
                        Ok(state) => {
                            say(&Ack {
                                actor: actor.clone(),
                                cmd: cmd.clone(),
                                version: state.events,
                                amount,
                                parts,
                            }
                            .line());
                            // One in 8: the same command id again, as after a lost
                            // acknowledgement. It must not be applied twice.
                            if rng.range(0, 7) == 0 {
                                let actor_ref = runtime.actor::<Bank>(actor);
                                let again = BankCmd::deposit(&cmd, amount, parts);
                                match resend_acknowledged(&actor_ref, again, &cmd, &state).await {
                                    Ok(()) => say(&format!("RESENT {actor} {cmd}")),
                                    Err(wrong) => say(&format!("ERR {actor} {cmd} {wrong}")),
                                }
                            }
                        }
                        Err(AskError::Conflict { attempts, .. }) => {
                            say(&format!("CONFLICT {actor} {cmd} {attempts}"))
                        }
                        Err(AskError::Store { source, .. }) => {
                            say(&format!("UNKNOWN {actor} {cmd} {source}"))
                        }
                        Err(err) => say(&format!("ERR {actor} {cmd} {err}")),
                    }
                }
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
        runtime.shutdown().await;
        say(&format!(
            "STATS {commands} {}",
            DECIDES.load(Ordering::Relaxed)
        ));
    });
}

#[derive(Debug, Default)]
struct Outcome {
    acks: Vec<Ack>,
    conflicts: Vec<String>,
    unknown: Vec<String>,
    /// Acknowledged commands sent again with the same id (answered without a second
    /// application).
    resent: u64,
    commands: u64,
    decides: u64,
}

fn collect(name: &str, lines: Vec<String>) -> Outcome {
    let mut out = Outcome::default();
    for line in lines {
        if let Some(ack) = Ack::parse(&line) {
            out.acks.push(ack);
        } else if let Some(rest) = line.strip_prefix("CONFLICT ") {
            out.conflicts
                .push(rest.split(' ').nth(1).unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("UNKNOWN ") {
            eprintln!("{name}: store error: {rest}");
            out.unknown.push(rest.split(' ').nth(1).unwrap().to_owned());
        } else if line.starts_with("RESENT ") {
            out.resent += 1;
        } else if let Some(rest) = line.strip_prefix("STATS ") {
            let mut parts = rest.split(' ');
            out.commands = parts.next().unwrap().parse().unwrap();
            out.decides = parts.next().unwrap().parse().unwrap();
        } else {
            assert!(
                !line.starts_with("ERR "),
                "{name}: a command failed: {line}"
            );
        }
    }
    assert_eq!(
        out.commands as usize,
        out.acks.len() + out.conflicts.len() + out.unknown.len(),
        "{name}: every command was answered (and the child printed its stats)"
    );
    out
}

async fn two_processes(label: &str, spec: StoreSpec, verify_spec: StoreSpec, test: &str) {
    let seed = process_common::seed();
    let commands = commands_per_process();
    eprintln!("{label}: seed {seed}, 2 processes x {commands} commands over {ACTORS} actors, conflict_retries {CONFLICT_RETRIES}");
    let mut children: Vec<(String, Child)> = ["pa", "pb"]
        .iter()
        .map(|name| {
            let env = format!("{}|{name}|{commands}|{seed}", spec.encode());
            ((*name).to_owned(), Child::spawn(test, &[(CHILD_ENV, env)]))
        })
        .collect();
    for (_, child) in &children {
        child.wait_for("READY", Duration::from_secs(60));
    }
    let started = Instant::now();
    for (_, child) in &mut children {
        child.send_line("GO");
    }
    let outcomes: Vec<(String, Outcome)> = children
        .into_iter()
        .map(|(name, child)| {
            let lines = child.finish(Duration::from_secs(600));
            let outcome = collect(&name, lines);
            (name, outcome)
        })
        .collect();
    let elapsed = started.elapsed();

    let acks: Vec<Ack> = outcomes
        .iter()
        .flat_map(|(_, o)| o.acks.iter().cloned())
        .collect();
    let names = actor_names();
    let found = verify(verify_spec.open().await, &names, &acks).await;

    // No lost update: balance == acknowledged deposits (+ landed unknown outcomes).
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for ack in &acks {
        *expected.entry(ack.actor.clone()).or_default() += ack.amount * i64::from(ack.parts);
    }
    let unknown: HashSet<&String> = outcomes.iter().flat_map(|(_, o)| &o.unknown).collect();
    let conflicted: HashSet<&String> = outcomes.iter().flat_map(|(_, o)| &o.conflicts).collect();
    for cmd in &found.unacknowledged_ids {
        assert!(
            !conflicted.contains(cmd),
            "command {cmd} failed with AskError::Conflict but is stored"
        );
        assert!(
            unknown.contains(cmd),
            "command {cmd} is stored but was neither acknowledged nor failed with a store error"
        );
    }
    for actor in &names {
        let want = expected.get(actor).copied().unwrap_or(0)
            + found
                .unacknowledged_amounts
                .get(actor)
                .copied()
                .unwrap_or(0);
        assert_eq!(
            found.balances[actor], want,
            "{actor}: balance is not the sum of the deposits acknowledged to it (lost update)"
        );
    }
    let total: i64 = found.balances.values().sum();
    for (name, o) in &outcomes {
        let retries = o.decides - o.commands;
        eprintln!(
            "{label} {name}: {} commands, {} acknowledged ({} of them resent with the same id, not applied again), {} AskError::Conflict after {CONFLICT_RETRIES} retries, {} store errors, {retries} retries after version conflicts ({} decides)",
            o.commands,
            o.acks.len(),
            o.resent,
            o.conflicts.len(),
            o.unknown.len(),
            o.decides
        );
    }
    eprintln!(
        "{label}: {} acknowledged of {} commands, {} events stored, {} command ids each stored once, total balance {total}, {elapsed:.1?}",
        acks.len(),
        2 * commands,
        found.events,
        found.command_ids
    );
    let resent: u64 = outcomes.iter().map(|(_, o)| o.resent).sum();
    assert!(
        resent > 0,
        "no acknowledged command was resent: the test did not test"
    );
    let retries: u64 = outcomes.iter().map(|(_, o)| o.decides - o.commands).sum();
    assert!(
        retries > 0 || !conflicted.is_empty(),
        "two processes on the same 10 actors never conflicted: the test did not test"
    );
}

fn parent_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_two_processes_same_actors_lose_no_update() {
    const TEST: &str = "sqlite_two_processes_same_actors_lose_no_update";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let spec = StoreSpec::Sqlite(path.to_str().unwrap().to_owned());
    parent_runtime().block_on(async {
        // Create the file before two processes race to.
        spec.open().await;
        two_processes("sqlite", spec.clone(), spec, TEST).await;
    });
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_two_processes_same_actors_lose_no_update() {
    const TEST: &str = "postgres_two_processes_same_actors_lose_no_update";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    parent_runtime().block_on(async {
        if process_common::pg::admin().await.is_none() {
            return;
        }
        let schema = process_common::unique_name("aether_rel_two");
        let _guard = process_common::pg::SchemaGuard(schema.clone());
        let app = process_common::unique_name("aether_rel_two");
        let spec = StoreSpec::Postgres {
            schema: schema.clone(),
            app: app.clone(),
        };
        spec.open().await;
        two_processes("postgres", spec.clone(), spec, TEST).await;
    });
}

#[cfg(feature = "nats")]
#[test]
fn nats_two_processes_same_actors_lose_no_update() {
    const TEST: &str = "nats_two_processes_same_actors_lose_no_update";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    parent_runtime().block_on(async {
        // The guard deletes the namespace when the test ends, passed or failed.
        let Some((namespace, _guard)) = process_common::nats::fresh("reltwo").await else {
            return;
        };
        let spec = StoreSpec::Nats { namespace };
        two_processes("nats", spec.clone(), spec, TEST).await;
    });
}
