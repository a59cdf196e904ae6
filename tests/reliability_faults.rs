//! The runtime over a store that fails, times out, delays and loses acknowledgements
//! ([`FaultyStore`]): every ask resolves, the actors' state never diverges from the store,
//! and they serve normally once the faults stop.
// Cross-store tests: built with the stores and the test kit (`--all-features`).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "nats",
    feature = "testkit"
))]

mod reliability_common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aether::testkit::{FaultyStore, InjectedFault, StoreOp};
use aether::{AskError, AskOptions, EventStore, InMemoryStore, Runtime, SnapshotStore};
use reliability_common::ledger::{Account, AccountCommand};
use reliability_common::{assert_each_id_applied_once, check_history};

/// An ask that takes this long is a hang.
const HANG: Duration = Duration::from_secs(20);

fn faulty<S>(inner: S, seed: u64) -> FaultyStore<S> {
    FaultyStore::builder(inner)
        .seed(seed)
        .fail(StoreOp::ALL, 0.08)
        .lose_ack(StoreOp::WRITES, 0.08)
        .timeout(StoreOp::ALL, 0.02, Duration::from_millis(15))
        .delay(
            StoreOp::ALL,
            0.2,
            Duration::from_micros(100)..Duration::from_millis(2),
        )
        .build()
}

fn runtime(store: Arc<dyn SnapshotStore>) -> Runtime {
    Runtime::builder(store)
        .snapshot_every(4)
        .passivate_after(Some(Duration::from_millis(30)))
        .build()
}

/// Runs the futures as tasks, concurrently; their outputs in order.
async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("no task panicked"));
    }
    out
}

/// A small seeded generator for the commands.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn command(&mut self) -> AccountCommand {
        match self.next() % 4 {
            0 | 1 => AccountCommand::Deposit((self.next() % 50) as i64 + 1),
            2 => AccountCommand::Withdraw((self.next() % 60) as i64 + 1),
            _ => AccountCommand::deposit_many(1, (self.next() % 4) as u32 + 2),
        }
    }
}

/// Checks that an error is one a faulty store may cause.
fn expected_error(err: &AskError<reliability_common::ledger::AccountError>) {
    match err {
        AskError::Rejected { .. } => {}
        AskError::Store { source, .. } => {
            assert!(InjectedFault::is_injected(source), "only injected: {err}")
        }
        AskError::StartFailed(start) => assert!(
            start.store_error().is_some_and(InjectedFault::is_injected),
            "start failed only on injected faults: {err}"
        ),
        other => panic!("unexpected error from a faulty store: {other}"),
    }
}

/// Asks, failing the test if the ask does not resolve in time.
async fn ask(
    runtime: &Runtime,
    id: &str,
    cmd: AccountCommand,
    options: AskOptions,
) -> Result<Account, AskError<reliability_common::ledger::AccountError>> {
    tokio::time::timeout(HANG, runtime.actor::<Account>(id).ask_with(cmd, options))
        .await
        .unwrap_or_else(|_| panic!("ask {cmd:?} to {id} hung for {HANG:?}"))
}

/// What one actor's script did.
#[derive(Default)]
struct Script {
    ok: usize,
    failed: usize,
    /// Acknowledged commands sent again with the same id.
    resent: usize,
    /// Per command id: the events one application of its command makes.
    worth: HashMap<String, usize>,
}

/// One actor's script: commands, each followed by a query whose answer (when the store
/// lets it through) must equal a full replay of the store's events. As a client would,
/// it retries a command that failed on the store with the same id (the first attempt may
/// have landed, its acknowledgement lost), and sends one acknowledged command in 4 again
/// (as if its acknowledgement were lost): it must get its first reply or `Duplicate`.
async fn drive<S: SnapshotStore>(
    runtime: Runtime,
    store: Arc<FaultyStore<S>>,
    id: String,
    seed: u64,
    commands: usize,
) -> Script {
    let mut rng = Rng(seed);
    let mut script = Script::default();
    let stored = format!("Account|{id}");
    for n in 0..commands {
        let command_id = format!("{id}-{n}");
        let cmd = rng.command();
        let worth = match cmd {
            AccountCommand::DepositMany { times, .. } => times as usize,
            _ => 1,
        };
        script.worth.insert(command_id.clone(), worth);
        let options = || AskOptions::new().command_id(command_id.clone());
        match ask(&runtime, &id, cmd, options()).await {
            Ok(first) => {
                script.ok += 1;
                if rng.next() % 4 == 0 {
                    script.resent += 1;
                    match ask(&runtime, &id, cmd, options()).await {
                        Ok(again) => assert_eq!(
                            again, first,
                            "{command_id} resent: the first reply again, not a second application"
                        ),
                        Err(AskError::Duplicate {
                            command_id: dup, ..
                        }) => {
                            assert_eq!(dup, command_id)
                        }
                        Err(err) => expected_error(&err),
                    }
                }
            }
            Err(err) => {
                expected_error(&err);
                script.failed += 1;
                if err.is_retryable() {
                    match ask(&runtime, &id, cmd, options()).await {
                        Ok(_) | Err(AskError::Duplicate { .. }) => {}
                        Err(err) => expected_error(&err),
                    }
                }
            }
        }
        match ask(&runtime, &id, AccountCommand::Get, AskOptions::new()).await {
            Ok(state) => {
                let events = store.inner().get_events(&stored, 0).await.unwrap();
                assert_eq!(
                    state,
                    Account::replay(&events),
                    "{stored} after command {n}"
                );
            }
            Err(err) => expected_error(&err),
        }
    }
    script
}

async fn many_actors_over<S: SnapshotStore + Send + Sync>(
    store: Arc<FaultyStore<S>>,
    actors: usize,
    commands: usize,
) {
    let rt = runtime(store.clone());
    let scripts = (0..actors).map(|a| {
        drive(
            rt.clone(),
            store.clone(),
            format!("a{a}"),
            a as u64,
            commands,
        )
    });
    let results = join_all(scripts).await;
    let ok: usize = results.iter().map(|r| r.ok).sum();
    let failed: usize = results.iter().map(|r| r.failed).sum();
    let resent: usize = results.iter().map(|r| r.resent).sum();

    // Many concurrent asks to each actor at once, all resolving.
    let burst = (0..actors).flat_map(|a| {
        let rt = rt.clone();
        (0..10).map(move |_| {
            let rt = rt.clone();
            async move {
                if let Err(err) = ask(
                    &rt,
                    &format!("a{a}"),
                    AccountCommand::Deposit(1),
                    AskOptions::new(),
                )
                .await
                {
                    expected_error(&err);
                }
            }
        })
    });
    join_all(burst).await;

    let stats = store.stats();
    eprintln!(
        "{ok} commands ok ({resent} of them resent with the same id), {failed} failed; {stats:?}"
    );
    assert!(
        resent > 0,
        "no acknowledged command was resent: the test did not test"
    );
    assert!(
        stats.failed > 0 && stats.lost_acks > 0 && stats.timed_out > 0,
        "{stats:?}"
    );
    assert!(ok > failed, "most commands go through");

    // Faults off: every actor serves, its state is a replay of the store, and no
    // command id is applied twice (counted from the stored events).
    store.stop_faults();
    let mut ids_checked = 0;
    for (a, script) in results.iter().enumerate() {
        let id = format!("a{a}");
        let stored = format!("Account|{id}");
        let state = ask(&rt, &id, AccountCommand::Get, AskOptions::new())
            .await
            .unwrap();
        let events = check_history(store.inner(), &stored).await;
        assert_eq!(
            state,
            Account::replay(&events),
            "{stored} once faults stopped"
        );
        ids_checked += assert_each_id_applied_once(&stored, &events, &script.worth);
        let after = ask(&rt, &id, AccountCommand::Deposit(7), AskOptions::new())
            .await
            .unwrap();
        assert_eq!(after.balance, state.balance.saturating_add(7));
    }
    rt.shutdown().await;
    eprintln!("{ids_checked} stored command ids, each applied once");
    assert!(ids_checked > 0);

    // A fresh runtime (snapshot + tail) gives the same states.
    let rt = runtime(store.clone());
    for a in 0..actors {
        let id = format!("a{a}");
        let events = check_history(store.inner(), &format!("Account|{id}")).await;
        let state = ask(&rt, &id, AccountCommand::Get, AskOptions::new())
            .await
            .unwrap();
        assert_eq!(state, Account::replay(&events), "{id} after a restart");
    }
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_many_actors_every_ask_resolves_and_state_never_diverges() {
    for seed in [11, 21, 31] {
        let store = Arc::new(faulty(InMemoryStore::new(), seed));
        many_actors_over(store, 100, 30).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_actors_every_ask_resolves_and_state_never_diverges() {
    let dir = tempfile::tempdir().unwrap();
    let inner = aether::sqlite::SqliteStore::builder(dir.path().join("faults.db"))
        .synchronous(aether::sqlite::Synchronous::Normal)
        .open()
        .await
        .unwrap();
    let store = Arc::new(faulty(inner, 12));
    many_actors_over(store, 24, 25).await;
}

/// The same seed and the same calls give the same faults, hence the same history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reproducible_from_the_seed() {
    async fn run(seed: u64) -> (Vec<(i64, String, Option<String>)>, u64) {
        let store = Arc::new(
            FaultyStore::builder(InMemoryStore::new())
                .seed(seed)
                .fail(StoreOp::ALL, 0.2)
                .lose_ack(StoreOp::SaveEvents, 0.2)
                .build(),
        );
        let rt = Runtime::builder(store.clone())
            .passivate_after(None)
            .build();
        let mut rng = Rng(5);
        for n in 0..60 {
            let options = AskOptions::new().command_id(format!("c{n}"));
            let _ = ask(&rt, "r", rng.command(), options).await;
        }
        rt.shutdown().await;
        let events = store.inner().get_events("Account|r", 0).await.unwrap();
        let history = events
            .into_iter()
            .map(|e| (e.version, e.data.to_string(), e.command_id))
            .collect();
        (history, store.stats().injected_errors())
    }
    let (a, b, c) = (run(3).await, run(3).await, run(4).await);
    assert_eq!(a, b, "same seed, same history and faults");
    assert_ne!(a, c, "another seed, other faults");
    assert!(a.1 > 0);
}

/// A store that fails every call: asks get errors (never hang); faults off: it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_always_fails_or_times_out_gives_errors_then_recovers() {
    for (fail, timeout) in [(1.0, 0.0), (0.0, 1.0)] {
        let store = Arc::new(
            FaultyStore::builder(InMemoryStore::new())
                .fail(StoreOp::ALL, fail)
                .timeout(StoreOp::ALL, timeout, Duration::from_millis(20))
                .build(),
        );
        let rt = runtime(store.clone());
        let asks = (0..20).map(|i| {
            let rt = rt.clone();
            async move {
                ask(
                    &rt,
                    &format!("d{}", i % 4),
                    AccountCommand::Deposit(1),
                    AskOptions::new(),
                )
                .await
            }
        });
        for result in join_all(asks).await {
            let err = result.unwrap_err();
            expected_error(&err);
            assert!(err.is_retryable(), "{err}");
            assert!(
                err.to_string().contains("Account|d"),
                "names the actor: {err}"
            );
        }
        store.stop_faults();
        for i in 0..4 {
            let state = ask(
                &rt,
                &format!("d{i}"),
                AccountCommand::Deposit(2),
                AskOptions::new(),
            )
            .await
            .unwrap();
            assert_eq!(state.balance, 2, "nothing of the failed asks was stored");
        }
        rt.shutdown().await;
    }
}
