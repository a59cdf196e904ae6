//! Crash recovery under load: a child process runs a runtime serving 1,000 actors
//! (concurrent clients, multi-event commands, snapshots every few events, passivation
//! on) and prints each acknowledged command, flushed; the parent SIGKILLs it at seeded
//! random moments, decided by how many acknowledgements it has read (never by a clock),
//! at least 20 times over the same store. After each kill a fresh runtime in the parent
//! rehydrates every actor, and the test checks that
//!
//! - every command acknowledged before the kill is stored, at the acknowledged version;
//! - no command is half-applied: a command's events are all stored or none;
//! - no command id is applied twice: one acknowledged command in 8 is sent again with its
//!   id and must get its first reply or `AskError::Duplicate`, and the stored events
//!   carrying each id are counted to one application's worth;
//! - each actor's state (snapshot + tail, through the runtime) equals a full replay of
//!   its stored events.
//!
//! On SQLite, PostgreSQL and NATS JetStream (10 kills there instead of 20: each round
//! of 1,000 actors costs more on it).
//!
//! The child is this test binary re-run with `AETHER_REL_CRASH_CHILD` set (see
//! [`child`]). `AETHER_SEED=<n>` replays a run's kill points; `AETHER_HEAVY=1` kills 100
//! times instead of 20.
//!
//! ```text
//! cargo test --all-features --test reliability_crash -- --nocapture
//! ```
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod process_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{AskOptions, Runtime};
use process_common::{resend_acknowledged, say, verify, Ack, Bank, BankCmd, Child, Rng, StoreSpec};

const CHILD_ENV: &str = "AETHER_REL_CRASH_CHILD";
const ACTORS: usize = 1_000;
const CLIENTS: usize = 32;
/// The most acknowledgements the parent waits for before a kill.
const MAX_ACKS_BEFORE_KILL: u64 = 400;

fn kills(light: usize) -> usize {
    if process_common::heavy() {
        100
    } else {
        light
    }
}

fn actor_names() -> Vec<String> {
    (0..ACTORS).map(|a| format!("acct-{a}")).collect()
}

/// The child's side: `AETHER_REL_CRASH_CHILD=<store spec>|<round>|<seed>`.
fn child(spec: &str) {
    // End the test harness's "test <name> ... " line, so the first ACK is a line of its own.
    say("");
    let mut parts = spec.split('|');
    let store = StoreSpec::decode(parts.next().unwrap());
    let round: u64 = parts.next().unwrap().parse().unwrap();
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let rt = process_common::child_tokio();
    rt.block_on(async move {
        let store = store.open().await;
        let runtime = Runtime::builder(store)
            .snapshot_every(3)
            .passivate_after(Some(Duration::from_millis(50)))
            .build();
        let names = Arc::new(actor_names());
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..CLIENTS as u64 {
            let (runtime, names) = (runtime.clone(), Arc::clone(&names));
            clients.spawn(async move {
                let mut rng = Rng::new(seed ^ (round << 32) ^ (client << 16) ^ 0x5eed);
                for n in 0.. {
                    let actor = &names[rng.range(0, ACTORS as u64 - 1) as usize];
                    let amount = rng.range(1, 1_000) as i64;
                    let parts = rng.range(1, 4) as u32;
                    let cmd = format!("r{round}-c{client}-n{n}");
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
                                if let Err(wrong) =
                                    resend_acknowledged(&actor_ref, again, &cmd, &state).await
                                {
                                    say(&format!("ERR {actor} {cmd} {wrong}"));
                                }
                            }
                        }
                        Err(err) => say(&format!("ERR {actor} {cmd} {err}")),
                    }
                }
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
    });
}

/// Runs `kills()` rounds of child-then-SIGKILL over one store, verifying after each.
/// `after_kill` runs once the child is dead (PostgreSQL: waits for its sessions to end).
async fn crash_rounds<F, Fut>(
    name: &str,
    kills: usize,
    spec: StoreSpec,
    verify_spec: StoreSpec,
    test: &str,
    after_kill: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let seed = process_common::seed();
    let mut rng = Rng::new(seed);
    eprintln!("{name}: seed {seed} (AETHER_SEED={seed} replays the kill points), {kills} kills");
    let names = actor_names();
    let mut acks: Vec<Ack> = Vec::new();
    let mut unacknowledged = 0;
    let mut snapshots = 0;
    let started = Instant::now();
    for round in 0..kills {
        let target = rng.range(1, MAX_ACKS_BEFORE_KILL) as usize;
        let child = Child::spawn(
            test,
            &[(CHILD_ENV, format!("{}|{round}|{seed}", spec.encode()))],
        );
        let mut seen = 0;
        let handle = |line: &str, acks: &mut Vec<Ack>| {
            if let Some(ack) = Ack::parse(line) {
                acks.push(ack);
                return true;
            }
            assert!(
                !line.starts_with("ERR "),
                "the child's command failed: {line}"
            );
            false
        };
        while seen < target {
            let line = child
                .next_line(Duration::from_secs(60))
                .expect("the child exited before it was killed");
            if handle(&line, &mut acks) {
                seen += 1;
            }
        }
        // Lines the child wrote before it died were acknowledged too.
        for line in child.kill() {
            handle(&line, &mut acks);
        }
        after_kill().await;
        let store = verify_spec.open().await;
        let found = verify(store, &names, &acks).await;
        unacknowledged = found.unacknowledged;
        snapshots = found.snapshots;
        eprintln!(
            "{name} round {round}: killed after {target} acks; {} acknowledged in all, {} commands / {} events stored, {} command ids each stored once, {} stored without an ack (in flight at a kill), {} actors with a snapshot",
            acks.len(),
            found.commands,
            found.command_ids,
            found.events,
            found.unacknowledged,
            found.snapshots
        );
    }
    eprintln!(
        "{name}: {kills} kills, {} acknowledged commands verified, {unacknowledged} unacknowledged but stored, {:.1?}",
        acks.len(),
        started.elapsed()
    );
    assert!(
        snapshots > 0,
        "{name}: no snapshot was written: rehydration was not tested from snapshots"
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
fn sqlite_runtime_survives_repeated_sigkill_under_load() {
    const TEST: &str = "sqlite_runtime_survives_repeated_sigkill_under_load";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let spec = StoreSpec::Sqlite(path.to_str().unwrap().to_owned());
    parent_runtime().block_on(crash_rounds(
        "sqlite",
        kills(20),
        spec.clone(),
        spec,
        TEST,
        || async {},
    ));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_runtime_survives_repeated_sigkill_under_load() {
    const TEST: &str = "postgres_runtime_survives_repeated_sigkill_under_load";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    parent_runtime().block_on(async {
        let Some(admin) = process_common::pg::admin().await else {
            return;
        };
        let schema = process_common::unique_name("aether_rel_crash");
        let _guard = process_common::pg::SchemaGuard(schema.clone());
        // The child's sessions carry their own application name, so the parent can wait
        // for them to end (the server may still commit what a killed child had sent).
        let app = process_common::unique_name("aether_rel_crash_child");
        let spec = StoreSpec::Postgres {
            schema: schema.clone(),
            app: app.clone(),
        };
        let verify_spec = StoreSpec::Postgres {
            schema,
            app: format!("{app}_parent"),
        };
        let (admin, app) = (&admin, &app);
        crash_rounds(
            "postgres",
            kills(20),
            spec,
            verify_spec,
            TEST,
            || async move {
                process_common::pg::wait_for_sessions_to_end(admin, app).await;
            },
        )
        .await;
    });
}

#[cfg(feature = "nats")]
#[test]
fn nats_runtime_survives_repeated_sigkill_under_load() {
    const TEST: &str = "nats_runtime_survives_repeated_sigkill_under_load";
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    parent_runtime().block_on(async {
        // The guard deletes the namespace when the test ends, passed or failed.
        let Some((namespace, _guard)) = process_common::nats::fresh("relcrash").await else {
            return;
        };
        let store = process_common::nats::connect(&namespace)
            .await
            .expect("connect to NATS");
        let spec = StoreSpec::Nats { namespace };
        let (store, names) = (&store, &actor_names());
        crash_rounds("nats", kills(10), spec.clone(), spec, TEST, || async move {
            // A publish the killed child had sent may still be landing: wait until the
            // histories stop growing, so the check sees the final state.
            process_common::nats::wait_until_quiet(store, names).await;
        })
        .await;
    });
}
