//! The one workload every system runs: a bank account that takes deposits.
//!
//! - aether: an event-sourced actor; each deposit persists one `Deposited` event.
//! - raw: a tokio task with a bounded mpsc mailbox and a oneshot reply, no persistence.
//! - kameo: a plain actor and `ask`, no persistence.
//! - ractor: a plain actor and `call`, no persistence.
//! - cqrs-es: an aggregate behind `CqrsFramework`, which loads (replays) the aggregate's
//!   events from its store, handles the command and commits the new event
//!   (`cqrs_domain.rs`, shared with the `cqrs-pg` helper crate).

use tokio::sync::{mpsc, oneshot};

pub use crate::client::Client;
pub use crate::cqrs_domain::*;

// ---------------------------------------------------------------- aether

/// The aether account: the actor the project's tests and examples share
/// (`aether_runtime::testkit::account`); a deposit persists one `Deposited` event and
/// replies with the state (24 bytes, `Copy`).
pub use aether_runtime::testkit::account::{Account, AccountCommand as Cmd};

// ---------------------------------------------------------------- raw limit

pub type RawMsg = (i64, oneshot::Sender<i64>);

/// Spawns the raw-limit account: a task owning a balance, bounded mailbox of 64 (aether's
/// and kameo's default capacity).
pub fn spawn_raw() -> mpsc::Sender<RawMsg> {
    let (tx, mut rx) = mpsc::channel::<RawMsg>(64);
    tokio::spawn(async move {
        let mut balance = 0i64;
        while let Some((amount, reply)) = rx.recv().await {
            balance += amount;
            let _ = reply.send(balance);
        }
    });
    tx
}

// ---------------------------------------------------------------- kameo

#[derive(kameo::Actor, Default)]
pub struct KAccount {
    balance: i64,
}

pub struct KDeposit(pub i64);
pub struct KBalance;

impl kameo::message::Message<KDeposit> for KAccount {
    type Reply = i64;
    async fn handle(
        &mut self,
        msg: KDeposit,
        _ctx: &mut kameo::message::Context<Self, Self::Reply>,
    ) -> i64 {
        self.balance += msg.0;
        self.balance
    }
}

impl kameo::message::Message<KBalance> for KAccount {
    type Reply = i64;
    async fn handle(
        &mut self,
        _msg: KBalance,
        _ctx: &mut kameo::message::Context<Self, Self::Reply>,
    ) -> i64 {
        self.balance
    }
}

pub fn spawn_kameo() -> kameo::actor::ActorRef<KAccount> {
    use kameo::actor::Spawn;
    KAccount::spawn(KAccount::default())
}

// ---------------------------------------------------------------- ractor

pub struct RAccount;

pub enum RMsg {
    Deposit(i64, ractor::RpcReplyPort<i64>),
}

impl ractor::Actor for RAccount {
    type Msg = RMsg;
    type State = i64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ractor::ActorRef<RMsg>,
        _args: (),
    ) -> Result<i64, ractor::ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ractor::ActorRef<RMsg>,
        message: RMsg,
        state: &mut i64,
    ) -> Result<(), ractor::ActorProcessingErr> {
        match message {
            RMsg::Deposit(amount, reply) => {
                *state += amount;
                let _ = reply.send(*state);
            }
        }
        Ok(())
    }
}

pub async fn spawn_ractor() -> ractor::ActorRef<RMsg> {
    let (actor, _handle) = ractor::Actor::spawn(None, RAccount, ())
        .await
        .expect("ractor spawn");
    actor
}

// ---------------------------------------------------------------- one client per actor

pub struct AetherClient(pub aether_runtime::ActorRef<Account>);
impl Client for AetherClient {
    async fn op(&mut self) {
        self.0.ask(Cmd::Deposit(1)).await.expect("aether ask");
    }
}

pub struct RawClient(pub mpsc::Sender<RawMsg>);
impl Client for RawClient {
    async fn op(&mut self) {
        let (tx, rx) = oneshot::channel();
        self.0.send((1, tx)).await.expect("raw send");
        rx.await.expect("raw reply");
    }
}

pub struct KameoClient(pub kameo::actor::ActorRef<KAccount>);
impl Client for KameoClient {
    async fn op(&mut self) {
        self.0.ask(KDeposit(1)).await.expect("kameo ask");
    }
}

pub struct RactorClient(pub ractor::ActorRef<RMsg>);
impl Client for RactorClient {
    async fn op(&mut self) {
        match self.0.call(|reply| RMsg::Deposit(1, reply), None).await {
            Ok(ractor::rpc::CallResult::Success(_)) => {}
            _ => panic!("ractor call failed"),
        }
    }
}

// ---------------------------------------------------------------- a store that keeps nothing

/// Diagnostic only: a store that accepts every append and keeps nothing, so the aether
/// row on it is the runtime's own cost per command (no store clone, no store lock).
#[derive(Debug, Default)]
pub struct NullStore;

#[aether_core::async_trait]
impl aether_core::EventStore for NullStore {
    async fn save_events(
        &self,
        events: &[aether_core::Event],
    ) -> Result<(), aether_core::StoreError> {
        aether_core::validate_batch(events).map(|_| ())
    }
    async fn get_events(
        &self,
        _actor_id: &str,
        _from_version: i64,
    ) -> Result<Vec<aether_core::Event>, aether_core::StoreError> {
        Ok(Vec::new())
    }
    async fn get_latest_version(&self, _actor_id: &str) -> Result<i64, aether_core::StoreError> {
        Ok(0)
    }
}

#[aether_core::async_trait]
impl aether_core::SnapshotStore for NullStore {
    async fn get_latest_snapshot(
        &self,
        _actor_id: &str,
    ) -> Result<Option<aether_core::ActorSnapshot>, aether_core::StoreError> {
        Ok(None)
    }
    async fn save_snapshot(
        &self,
        _snapshot: &aether_core::ActorSnapshot,
    ) -> Result<(), aether_core::StoreError> {
        Ok(())
    }
}
