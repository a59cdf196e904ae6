//! Property tests: random interleavings of commands, resent command ids, passivations,
//! snapshots and restarts, over a store that loses acknowledgements and fails calls.
//!
//! - The live state always equals a full replay of the store, and the latest snapshot a
//!   replay up to its version (snapshot + tail == full replay).
//! - **A command id is never applied twice**: resent, across passivation and restarts,
//!   and after lost acknowledgements, each id appears in exactly one command's events.
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod reliability_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aether::testkit::{FaultyStore, StoreOp};
use aether::{AskError, AskOptions, InMemoryStore, Runtime, SnapshotStore};
use proptest::prelude::*;
use reliability_common::check_history;
use reliability_common::ledger::{Account, AccountCommand, AccountError};

const ACTOR: &str = "p";
const STORED: &str = "Account|p";

#[derive(Debug, Clone)]
enum Op {
    /// Send command `slot` of the pool (a fresh id the first time, a resend after).
    Send(usize),
    /// Wait until the actor passivates.
    Passivate,
    /// Shut the runtime down and build a new one over the same store.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..12usize).prop_map(Op::Send),
        1 => Just(Op::Passivate),
        1 => Just(Op::Restart),
    ]
}

/// The command of a pool slot: the same id always carries the same command.
fn command(slot: usize) -> AccountCommand {
    match slot % 4 {
        0 | 1 => AccountCommand::Deposit(slot as i64 + 1),
        2 => AccountCommand::deposit_many(1, (slot % 3) as u32 + 2),
        _ => AccountCommand::Withdraw(slot as i64),
    }
}

fn build(store: Arc<dyn SnapshotStore>, snapshot_every: u64) -> Runtime {
    Runtime::builder(store)
        .snapshot_every(snapshot_every)
        .passivate_after(Some(Duration::from_millis(5)))
        .build()
}

async fn ask(
    rt: &Runtime,
    cmd: AccountCommand,
    options: AskOptions,
) -> Result<Account, AskError<AccountError>> {
    tokio::time::timeout(
        Duration::from_secs(20),
        rt.actor::<Account>(ACTOR).ask_with(cmd, options),
    )
    .await
    .expect("no ask hangs")
}

/// The live state (faults off for the look) against a replay of the store.
async fn check_state<S: SnapshotStore>(rt: &Runtime, store: &FaultyStore<S>) {
    let faulting = store.is_faulting();
    store.stop_faults();
    let state = ask(rt, AccountCommand::Get, AskOptions::new())
        .await
        .unwrap();
    let events = check_history(store.inner(), STORED).await;
    assert_eq!(state, Account::replay(&events), "live state == full replay");
    if faulting {
        store.start_faults();
    }
}

/// How many stored events carry the command id.
async fn applied<S: SnapshotStore>(store: &FaultyStore<S>, id: &str) -> usize {
    let events = store.inner().get_events(STORED, 0).await.unwrap();
    events
        .iter()
        .filter(|e| e.command_id.as_deref() == Some(id))
        .count()
}

async fn run<S: SnapshotStore + Send + Sync>(
    store: Arc<FaultyStore<S>>,
    ops: Vec<Op>,
    snapshot_every: u64,
) {
    let mut rt = build(store.clone(), snapshot_every);
    // Per slot: whether an ask with its id was answered Ok (first time, or the first
    // reply again for a resend) or Duplicate.
    let mut acknowledged: BTreeMap<usize, bool> = BTreeMap::new();
    // Passivations counted before the last check's ask made the actor live (`None`
    // before the first check: no actor to passivate yet).
    let mut passivated_before_check: Option<u64> = None;
    for op in ops {
        match op {
            Op::Send(slot) => {
                let id = format!("cmd-{slot}");
                let before = applied(&store, &id).await;
                // Resend with the same id while the store fails; then stop the faults so
                // every command settles.
                let mut result = None;
                for attempt in 0..40 {
                    if attempt == 30 {
                        store.stop_faults();
                    }
                    let options = AskOptions::new().command_id(id.clone());
                    match ask(&rt, command(slot), options).await {
                        Err(AskError::Store { .. }) | Err(AskError::StartFailed(_)) => continue,
                        other => {
                            result = Some(other);
                            break;
                        }
                    }
                }
                store.start_faults();
                let after = applied(&store, &id).await;
                match result.expect("settles once the faults stop") {
                    Ok(_) => {
                        // A resend of a stored id may get the first reply again; that it
                        // added nothing is checked below.
                        assert!(after > 0, "{id}: answered Ok, so stored");
                        acknowledged.insert(slot, true);
                    }
                    Err(AskError::Duplicate { command_id, .. }) => {
                        assert_eq!(command_id, id);
                        assert!(after > 0, "{id}: a duplicate of something stored");
                        acknowledged.insert(slot, true);
                    }
                    Err(AskError::Rejected { .. }) => {
                        assert_eq!(before, 0, "{id}: stored, yet decided again");
                    }
                    Err(other) => panic!("{id}: unexpected {other}"),
                }
                if before > 0 {
                    assert_eq!(after, before, "{id}: a resend added nothing");
                }
            }
            Op::Passivate => {
                // The last check asked the actor, so it was live; it must passivate
                // (live tasks 0, and a passivation since that check) within the deadline,
                // so that the next step rehydrates it.
                if let Some(before) = passivated_before_check {
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    loop {
                        let stats = rt.stats();
                        if stats.live == 0 && stats.passivated > before {
                            break;
                        }
                        assert!(
                            std::time::Instant::now() < deadline,
                            "the actor did not passivate within 10 s of idleness: {stats:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            Op::Restart => {
                rt.shutdown().await;
                rt = build(store.clone(), snapshot_every);
            }
        }
        passivated_before_check = Some(rt.stats().passivated);
        check_state(&rt, &store).await;
    }
    // Every acknowledged id is stored, and each in exactly one command's events
    // (`check_history` checks the runs).
    for slot in acknowledged.keys() {
        assert!(applied(&store, &format!("cmd-{slot}")).await > 0);
    }
    check_state(&rt, &store).await;
    rt.shutdown().await;
    // A fresh runtime (snapshot + tail) agrees with a full replay.
    let rt = build(store.clone(), snapshot_every);
    check_state(&rt, &store).await;
    rt.shutdown().await;
}

fn faulty<S>(inner: S, seed: u64, lose_ack: f64, fail: f64) -> Arc<FaultyStore<S>> {
    Arc::new(
        FaultyStore::builder(inner)
            .seed(seed)
            .lose_ack(StoreOp::WRITES, lose_ack)
            .fail(StoreOp::ALL, fail)
            .build(),
    )
}

/// `PROPTEST_CASES` for a deeper run, else the CI default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    #[test]
    fn command_ids_never_apply_twice_in_memory(
        ops in prop::collection::vec(op(), 1..30),
        snapshot_every in 1..6u64,
        seed in any::<u64>(),
        lose_ack in prop_oneof![Just(0.0), Just(0.3), Just(0.6)],
        fail in prop_oneof![Just(0.0), Just(0.2)],
    ) {
        tokio_rt().block_on(run(
            faulty(InMemoryStore::new(), seed, lose_ack, fail),
            ops,
            snapshot_every,
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(8), ..ProptestConfig::default() })]

    #[test]
    fn command_ids_never_apply_twice_sqlite(
        ops in prop::collection::vec(op(), 1..20),
        snapshot_every in 1..6u64,
        seed in any::<u64>(),
    ) {
        tokio_rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let inner = aether::sqlite::SqliteStore::builder(dir.path().join("props.db"))
                .synchronous(aether::sqlite::Synchronous::Normal)
                .open()
                .await
                .unwrap();
            run(faulty(inner, seed, 0.4, 0.1), ops, snapshot_every).await;
        });
    }
}
