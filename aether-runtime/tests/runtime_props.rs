//! Property test: random commands interleaved with passivations, restarts, snapshots and
//! writes by another process; the live state always equals a fresh full replay of the
//! store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aether_core::EventStore;
use aether_runtime::{AskError, Runtime};
use common::{external_event, Account, AccountEvent, Cmd, TestStore};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Deposit(i64),
    Withdraw(i64),
    DepositTwice(i64),
    /// Wait until the actor passivates.
    Passivate,
    /// Shut the runtime down and build a new one over the same store.
    Restart,
    /// Another process appends a deposit behind the actor's back.
    ExternalDeposit(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..50i64).prop_map(Op::Deposit),
        3 => (1..80i64).prop_map(Op::Withdraw),
        2 => (1..20i64).prop_map(Op::DepositTwice),
        1 => Just(Op::Passivate),
        1 => Just(Op::Restart),
        1 => (1..30i64).prop_map(Op::ExternalDeposit),
    ]
}

fn build(store: &Arc<TestStore>, snapshot_every: u64) -> Runtime {
    Runtime::builder(store.clone())
        .snapshot_every(snapshot_every)
        .passivate_after(Some(Duration::from_millis(2)))
        .build()
}

async fn check(ops: Vec<Op>, snapshot_every: u64) {
    let store = Arc::new(TestStore::default());
    let mut runtime = build(&store, snapshot_every);
    let id = "Account|prop";
    runtime
        .actor::<Account>("prop")
        .ask(Cmd::Open)
        .await
        .unwrap();
    for op in ops {
        let account = runtime.actor::<Account>("prop");
        match op {
            Op::Deposit(n) => {
                account.ask(Cmd::Deposit(n)).await.unwrap();
            }
            Op::DepositTwice(n) => {
                account.ask(Cmd::deposit_many(n, 2)).await.unwrap();
            }
            Op::Withdraw(n) => match account.ask(Cmd::Withdraw(n)).await {
                Ok(_) | Err(AskError::Rejected { .. }) => {}
                Err(other) => panic!("{other}"),
            },
            Op::Passivate => {
                drop(account);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                while runtime.stats().live > 0 {
                    assert!(tokio::time::Instant::now() < deadline, "never passivated");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Op::Restart => {
                runtime.shutdown().await;
                runtime = build(&store, snapshot_every);
            }
            Op::ExternalDeposit(n) => {
                let latest = store.inner.get_latest_version(id).await.unwrap();
                let e = external_event(id, latest + 1, &AccountEvent::Deposited { amount: n });
                store.inner.save_event(&e).await.unwrap();
                // Make the actor see it now (a conflict on its next append would too).
                account.ask(Cmd::Deposit(1)).await.unwrap();
            }
        }
        let live = runtime
            .actor::<Account>("prop")
            .ask(Cmd::Get)
            .await
            .unwrap();
        let replayed = Account::replay(&store.inner.get_events(id, 0).await.unwrap());
        assert_eq!(live, replayed, "live state == full replay");
        assert!(live.balance >= 0);
    }
    runtime.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn live_state_always_equals_a_full_replay(
        ops in proptest::collection::vec(op(), 1..40),
        snapshot_every in 1u64..6,
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(ops, snapshot_every));
    }
}
