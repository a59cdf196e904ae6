//! One hot actor (issue 15): the commands waiting in its mailbox are decided in order and
//! persisted in one append; each keeps its own outcome, the replies keep their order.
//!
//! Most tests hold the actor inside the append of one command (a store gate), queue
//! commands behind it, then open the gate: the queued commands are then handled as one
//! batch, deterministically (a current-thread runtime runs the queued asks in order).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aether_core::{async_trait, ActorSnapshot, Event, EventStore, SnapshotStore, StoreError};
use aether_runtime::{ActorRef, AppliedCommand, AskError, AskOptions, Runtime, RuntimeBuilder};
use common::{cure, poison, wait_until, Account, AccountError, AccountEvent, Cmd, TestStore};
use tokio::sync::Semaphore;

type Reply = Result<Account, AskError<AccountError>>;

/// What the store does to the next append of more than one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnBatch {
    Nothing,
    /// Another writer takes the batch's first version just before it: a conflict.
    Conflict,
    /// Refused with a backend error, nothing stored.
    Fail,
    /// Stored, then reported failed (a lost acknowledgement).
    LoseAck,
}

/// A counting, gated store ([`TestStore`]) that can fault the appends of batches.
struct BatchStore {
    inner: TestStore,
    on_batch: Mutex<OnBatch>,
    /// Keep faulting every batch instead of only the next one.
    sticky: AtomicBool,
    /// Appends of more than one event.
    batches: AtomicUsize,
}

impl BatchStore {
    fn new(gate: Arc<Semaphore>) -> Self {
        BatchStore {
            inner: TestStore {
                save_gate: Some(gate),
                ..TestStore::default()
            },
            on_batch: Mutex::new(OnBatch::Nothing),
            sticky: AtomicBool::new(false),
            batches: AtomicUsize::new(0),
        }
    }

    fn appends(&self) -> usize {
        self.inner.save_events_calls.load(Ordering::SeqCst)
    }

    fn fault_next_batch(&self, fault: OnBatch, sticky: bool) {
        *self.on_batch.lock().unwrap() = fault;
        self.sticky.store(sticky, Ordering::SeqCst);
    }

    async fn stored(&self, actor_id: &str) -> Vec<Event> {
        self.inner.inner.get_events(actor_id, 0).await.unwrap()
    }
}

#[async_trait]
impl EventStore for BatchStore {
    async fn save_events(&self, events: &[Event]) -> Result<(), StoreError> {
        if events.len() < 2 {
            return self.inner.save_events(events).await;
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut on_batch = self.on_batch.lock().unwrap();
            let fault = *on_batch;
            if !self.sticky.load(Ordering::SeqCst) {
                *on_batch = OnBatch::Nothing;
            }
            fault
        };
        let first = &events[0];
        let failed = || {
            StoreError::backend(
                &first.actor_id,
                first.version,
                std::io::Error::other("injected batch failure"),
            )
        };
        match fault {
            OnBatch::Nothing => self.inner.save_events(events).await,
            OnBatch::Conflict => {
                let theirs = common::external_event(
                    &first.actor_id,
                    first.version,
                    &AccountEvent::Deposited { amount: 1_000 },
                );
                self.inner.inner.save_event(&theirs).await?;
                self.inner.save_events(events).await
            }
            OnBatch::Fail => {
                self.inner.save_events_calls.fetch_add(1, Ordering::SeqCst);
                Err(failed())
            }
            OnBatch::LoseAck => {
                self.inner.save_events(events).await?;
                Err(failed())
            }
        }
    }

    async fn get_events(&self, actor_id: &str, from: i64) -> Result<Vec<Event>, StoreError> {
        self.inner.get_events(actor_id, from).await
    }

    async fn get_latest_version(&self, actor_id: &str) -> Result<i64, StoreError> {
        self.inner.get_latest_version(actor_id).await
    }
}

#[async_trait]
impl SnapshotStore for BatchStore {
    async fn get_latest_snapshot(&self, id: &str) -> Result<Option<ActorSnapshot>, StoreError> {
        self.inner.get_latest_snapshot(id).await
    }
    async fn save_snapshot(&self, snapshot: &ActorSnapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
}

/// An opened account over a [`BatchStore`] whose appends wait for the gate.
struct Gated {
    store: Arc<BatchStore>,
    gate: Arc<Semaphore>,
    runtime: Runtime,
    account: ActorRef<Account>,
}

async fn gated(name: &str, configure: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder) -> Gated {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(BatchStore::new(gate.clone()));
    let runtime = configure(Runtime::builder(store.clone())).build();
    let account = runtime.actor::<Account>(name);
    gate.add_permits(1);
    account.ask(Cmd::Open).await.unwrap();
    Gated {
        store,
        gate,
        runtime,
        account,
    }
}

/// What is queued behind the held command.
enum Queued {
    Ask(Cmd, Option<&'static str>),
    /// An [`ActorRef::applied`] inquiry.
    Applied(&'static str),
}

use Queued::{Applied, Ask};

#[derive(Debug)]
enum Answer {
    Reply(Reply),
    Applied(Option<AppliedCommand>),
}

impl Answer {
    fn reply(&self) -> &Reply {
        match self {
            Answer::Reply(reply) => reply,
            Answer::Applied(_) => panic!("an inquiry's answer, not a reply"),
        }
    }
    fn ok(&self) -> Account {
        *self.reply().as_ref().expect("an ok reply")
    }
    fn err(&self) -> &AskError<AccountError> {
        self.reply().as_ref().expect_err("an error")
    }
}

impl Gated {
    /// Holds the actor in the append of `Deposit(100)`, queues `queued` behind it in
    /// order, opens the gate; gives each answer, and the order the answers arrived in.
    async fn behind_a_held_command(&self, queued: Vec<Queued>) -> (Vec<Answer>, Vec<usize>) {
        let appends = self.store.appends();
        let held = {
            let account = self.account.clone();
            tokio::spawn(async move { account.ask(Cmd::Deposit(100)).await })
        };
        wait_until("the held append", || self.store.appends() > appends).await;
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = queued
            .into_iter()
            .enumerate()
            .map(|(i, queued)| {
                let (account, arrived) = (self.account.clone(), arrived.clone());
                tokio::spawn(async move {
                    let answer = match queued {
                        Ask(cmd, None) => Answer::Reply(account.ask(cmd).await),
                        Ask(cmd, Some(id)) => Answer::Reply(
                            account
                                .ask_with(cmd, AskOptions::new().command_id(id))
                                .await,
                        ),
                        Applied(id) => Answer::Applied(account.applied(id).await.unwrap()),
                    };
                    arrived.lock().unwrap().push(i);
                    answer
                })
            })
            .collect();
        // Each task queues its message on its first poll (a current-thread runtime
        // runs them in order).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        self.gate.add_permits(1_000_000);
        held.await.unwrap().expect("the held command");
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let arrived = arrived.lock().unwrap().clone();
        (answers, arrived)
    }

    /// The state equals a replay of the store.
    async fn check_state(&self) -> Account {
        let state = self.account.ask(Cmd::Get).await.unwrap();
        let stored = self.store.stored(self.account.stored_id()).await;
        assert_eq!(
            state,
            Account::replay(&stored),
            "state == replay of the store"
        );
        state
    }
}

fn in_order(n: usize) -> Vec<usize> {
    (0..n).collect()
}

#[tokio::test]
async fn queued_commands_go_in_one_append_and_the_replies_keep_their_order() {
    let g = gated("batched", |b| b).await;
    let queued = (1..=10)
        .map(|amount| Ask(Cmd::Deposit(amount), None))
        .collect();
    let (answers, arrived) = g.behind_a_held_command(queued).await;
    // Open, the held command, then all ten in one append.
    assert_eq!(
        g.store.appends(),
        3,
        "one append for the ten queued commands"
    );
    assert_eq!(g.store.batches.load(Ordering::SeqCst), 1);
    let mut balance = 100;
    for (i, answer) in answers.iter().enumerate() {
        balance += i as i64 + 1;
        let state = answer.ok();
        assert_eq!(state.balance, balance, "command {i} saw the ones before it");
        assert_eq!(state.applied, i as u64 + 3, "its own version");
    }
    assert_eq!(arrived, in_order(10), "replies sent in mailbox order");
    let stored = g.store.stored("Account|batched").await;
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>(),
        "consecutive versions"
    );
    assert_eq!(g.check_state().await.balance, 155);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn max_batch_1_appends_each_command_alone_as_before() {
    let g = gated("one-by-one", |b| b.max_batch(1)).await;
    assert_eq!(g.runtime.config_of::<Account>().max_batch, 1);
    let queued = (1..=10)
        .map(|amount| Ask(Cmd::Deposit(amount), None))
        .collect();
    let (answers, arrived) = g.behind_a_held_command(queued).await;
    assert_eq!(g.store.appends(), 12, "one append per command");
    assert_eq!(g.store.batches.load(Ordering::SeqCst), 0);
    let balances: Vec<i64> = answers.iter().map(|a| a.ok().balance).collect();
    assert_eq!(balances, [101, 103, 106, 110, 115, 121, 128, 136, 145, 155]);
    assert_eq!(arrived, in_order(10));
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn the_maximum_per_append_splits_a_longer_queue() {
    let g = gated("split", |b| b.max_batch(4)).await;
    let queued = (1..=10)
        .map(|amount| Ask(Cmd::Deposit(amount), None))
        .collect();
    let (answers, _) = g.behind_a_held_command(queued).await;
    // 10 queued, at most 4 per append: 4 + 4 + 2.
    assert_eq!(g.store.appends(), 2 + 3);
    assert_eq!(answers[9].ok().balance, 155);
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_rejected_command_in_a_batch_changes_nothing_for_the_others() {
    let g = gated("rejecting", |b| b).await;
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Withdraw(1_000), None), // refused against the stored state
            Ask(Cmd::Deposit(5), None),
            Ask(Cmd::Withdraw(1_000), None), // refused against the batch's state
            Ask(Cmd::Deposit(3), None),
            Ask(Cmd::Withdraw(108), None), // only possible after the two deposits
            Ask(Cmd::Get, None),
        ])
        .await;
    assert!(matches!(
        answers[0].err(),
        AskError::Rejected {
            error: AccountError::Insufficient { balance: 100, .. },
            version: 2,
            ..
        }
    ));
    assert_eq!(answers[1].ok().balance, 105);
    match answers[2].err() {
        AskError::Rejected { error, version, .. } => {
            assert!(matches!(
                error,
                AccountError::Insufficient {
                    balance: 105,
                    asked: 1_000
                }
            ));
            assert_eq!(*version, 3, "the version it was decided at");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(answers[3].ok().balance, 108);
    assert_eq!(answers[4].ok().balance, 0);
    assert_eq!(
        answers[5].ok(),
        answers[4].ok(),
        "a query sees the batch so far"
    );
    assert_eq!(arrived, in_order(6));
    assert_eq!(
        g.store.appends(),
        3,
        "the three accepted commands in one append"
    );
    let stored = g.store.stored("Account|rejecting").await;
    assert_eq!(stored.len(), 5);
    assert_eq!(g.check_state().await.balance, 0);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_conflict_on_a_batched_append_decides_them_all_again() {
    let g = gated("conflicted", |b| b).await;
    g.store.fault_next_batch(OnBatch::Conflict, false);
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(5), Some("a")),
            // Refused against the actor's state, accepted once the other writer's
            // 1,000 is read: decided again, not answered from the refused attempt.
            Ask(Cmd::Withdraw(500), Some("b")),
            Ask(Cmd::Deposit(1), Some("c")),
        ])
        .await;
    let balances: Vec<i64> = answers.iter().map(|a| a.ok().balance).collect();
    assert_eq!(balances, [1_105, 605, 606]);
    assert_eq!(arrived, in_order(3));
    // Open, held, the refused batch, the batch again.
    assert_eq!(g.store.appends(), 4);
    let stored = g.store.stored("Account|conflicted").await;
    assert_eq!(
        stored
            .iter()
            .map(|e| (e.version, e.command_id.as_deref()))
            .collect::<Vec<_>>(),
        [
            (1, None),
            (2, None),
            (3, None), // the other writer's
            (4, Some("a")),
            (5, Some("b")),
            (6, Some("c")),
        ],
        "each event carries its own command's id"
    );
    assert_eq!(g.check_state().await.balance, 606);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_batch_that_keeps_conflicting_fails_every_command_with_conflict() {
    let g = gated("contended", |b| b.conflict_retries(1)).await;
    g.store.fault_next_batch(OnBatch::Conflict, true);
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(5), None),
            Ask(Cmd::Withdraw(1_000_000), None),
            Ask(Cmd::Deposit(1), None),
        ])
        .await;
    for answer in &answers {
        match answer.err() {
            AskError::Conflict { attempts, .. } => assert_eq!(*attempts, 2, "one retry"),
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(arrived, in_order(3));
    g.store.fault_next_batch(OnBatch::Nothing, false);
    // Two refused attempts, each after another writer's event.
    assert_eq!(g.check_state().await.balance, 100 + 2_000);
    assert_eq!(g.account.ask(Cmd::Deposit(1)).await.unwrap().balance, 2_101);
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_store_error_on_a_batched_append_fails_the_commands_that_rested_on_it() {
    let g = gated("failing", |b| b).await;
    g.store.fault_next_batch(OnBatch::Fail, false);
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            // Decided against stored state only: its outcome stands.
            Ask(Cmd::Withdraw(1_000), None),
            Ask(Cmd::Deposit(5), None),
            Ask(Cmd::Withdraw(1_000), None),
            Ask(Cmd::Deposit(3), None),
        ])
        .await;
    assert!(matches!(answers[0].err(), AskError::Rejected { .. }));
    for answer in &answers[1..] {
        match answer.err() {
            AskError::Store {
                source: StoreError::Backend { .. },
                version,
                ..
            } => assert_eq!(*version, 2, "the stored version"),
            other => panic!("expected Store, got {other:?}"),
        }
    }
    assert_eq!(arrived, in_order(4));
    assert_eq!(g.check_state().await.balance, 100, "nothing of the batch");
    assert_eq!(g.account.ask(Cmd::Deposit(1)).await.unwrap().applied, 3);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_lost_acknowledgement_of_a_batch_fails_them_all_and_the_state_follows_the_store() {
    let g = gated("lost-ack", |b| b).await;
    g.store.fault_next_batch(OnBatch::LoseAck, false);
    let (answers, _) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(5), Some("x")),
            Ask(Cmd::Deposit(3), Some("y")),
        ])
        .await;
    for answer in &answers {
        assert!(matches!(answer.err(), AskError::Store { .. }), "{answer:?}");
    }
    // The append landed: the state is rebuilt from the store, which has both.
    assert_eq!(g.check_state().await.balance, 108);
    // Retried ids are recognised from the store, not applied again.
    let again = g
        .account
        .ask_with(Cmd::Deposit(5), AskOptions::new().command_id("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(again, AskError::Duplicate { version: 3, .. }),
        "{again:?}"
    );
    assert_eq!(g.account.ask(Cmd::Deposit(1)).await.unwrap().applied, 5);
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn duplicate_command_ids_in_one_batch_are_applied_once() {
    let g = gated("dedup", |b| b).await;
    g.gate.add_permits(1);
    let before = g
        .account
        .ask_with(Cmd::Deposit(7), AskOptions::new().command_id("before"))
        .await
        .unwrap();
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(5), Some("x")),
            Ask(Cmd::Deposit(5), Some("x")),
            Ask(Cmd::Deposit(1), Some("y")),
            Ask(Cmd::Deposit(5), Some("x")),
            Ask(Cmd::Deposit(7), Some("before")),
        ])
        .await;
    let x = answers[0].ok();
    assert_eq!(x.balance, 112);
    assert_eq!(answers[1].ok(), x, "the first reply, not a second deposit");
    assert_eq!(answers[2].ok().balance, 113);
    assert_eq!(answers[3].ok(), x);
    assert_eq!(answers[4].ok(), before, "an id stored before the batch");
    assert_eq!(arrived, in_order(5));
    let stored = g.store.stored("Account|dedup").await;
    let ids: Vec<_> = stored
        .iter()
        .filter_map(|e| e.command_id.as_deref())
        .collect();
    assert_eq!(ids, ["before", "x", "y"], "each id stored once");
    let applied = g.account.applied("x").await.unwrap().unwrap();
    assert_eq!((applied.first_version, applied.last_version), (4, 4));
    assert_eq!(g.check_state().await.balance, 113);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn without_kept_replies_a_duplicate_in_a_batch_gets_duplicate() {
    let g = gated("dedup-no-replies", |b| b.kept_replies(0)).await;
    let (answers, _) = g
        .behind_a_held_command(vec![
            Ask(Cmd::deposit_many(5, 2), Some("x")),
            Ask(Cmd::deposit_many(5, 2), Some("x")),
        ])
        .await;
    assert_eq!(answers[0].ok().balance, 110);
    match answers[1].err() {
        AskError::Duplicate {
            command_id,
            first_version,
            version,
            ..
        } => {
            assert_eq!(command_id, "x");
            assert_eq!((*first_version, *version), (3, 4));
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(g.check_state().await.balance, 110);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn with_duplicate_detection_off_a_repeated_id_in_a_batch_is_applied_again() {
    // As on the one-command path: window 0 remembers nothing.
    let g = gated("dedup-off", |b| b.idempotency_window(0)).await;
    let (answers, _) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(5), Some("x")),
            Ask(Cmd::Deposit(5), Some("x")),
        ])
        .await;
    assert_eq!(answers[1].ok().balance, 110);
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn a_panic_in_a_batch_fails_only_that_command() {
    let g = gated("panicking", |b| b).await;
    let tag = 1_501; // this test's own (tags are process-wide)
    poison(tag);
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(1), None),
            Ask(Cmd::PanicInDecide, None),
            Ask(Cmd::Deposit(2), None),
            Ask(Cmd::Poison(tag), None), // `apply` panics half-way
            Ask(Cmd::Deposit(4), None),
            Ask(Cmd::Deposit(8), None),
        ])
        .await;
    cure(tag);
    assert_eq!(answers[0].ok().balance, 101);
    assert!(answers[1].err().is_panic());
    assert_eq!(answers[2].ok().balance, 103);
    assert!(answers[3].err().is_panic());
    assert_eq!(answers[4].ok().balance, 107);
    assert_eq!(answers[5].ok().balance, 115);
    assert_eq!(arrived, in_order(6));
    let stored = g.store.stored("Account|panicking").await;
    assert!(
        stored.iter().all(|e| e.event_type != "Poison"),
        "the event whose apply panicked was stored"
    );
    assert_eq!(stored.len(), 6);
    assert_eq!(g.check_state().await.balance, 115);
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn inquiries_keep_their_place_between_batched_commands() {
    let g = gated("inquired", |b| b).await;
    let (answers, arrived) = g
        .behind_a_held_command(vec![
            Ask(Cmd::Deposit(1), Some("b1")),
            Ask(Cmd::Deposit(1), Some("b2")),
            Applied("b2"),
            Applied("c1"),
            Ask(Cmd::Deposit(1), Some("c1")),
            Ask(Cmd::Deposit(1), Some("c2")),
        ])
        .await;
    match &answers[2] {
        Answer::Applied(Some(applied)) => assert_eq!(applied.last_version, 4),
        other => panic!("b2 is stored before the inquiry after it: {other:?}"),
    }
    assert!(
        matches!(answers[3], Answer::Applied(None)),
        "c1 comes after the inquiry"
    );
    assert_eq!(arrived, in_order(6));
    // Open, held, [b1, b2], [c1, c2].
    assert_eq!(g.store.appends(), 4);
    g.check_state().await;
    g.runtime.shutdown().await;
}

#[tokio::test]
async fn told_commands_are_batched_too() {
    let g = gated("told", |b| b).await;
    let appends = g.store.appends();
    let held = {
        let account = g.account.clone();
        tokio::spawn(async move { account.ask(Cmd::Deposit(100)).await })
    };
    wait_until("the held append", || g.store.appends() > appends).await;
    for amount in 1..=5 {
        g.account.try_tell(Cmd::Deposit(amount)).unwrap();
    }
    g.gate.add_permits(1_000_000);
    held.await.unwrap().unwrap();
    assert_eq!(g.account.ask(Cmd::Get).await.unwrap().balance, 115);
    assert_eq!(g.store.appends(), 3);
    g.check_state().await;
    g.runtime.shutdown().await;
}
