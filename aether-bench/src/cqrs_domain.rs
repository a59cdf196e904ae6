//! The cqrs-es side of the workload: the same account as an aggregate. Shared (by path)
//! with the `cqrs-pg` helper crate, which cannot live in this package (postgres-es pulls
//! sqlx, whose libsqlite3-sys conflicts with rusqlite's).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::client::Client;

#[derive(Debug, thiserror::Error)]
#[error("amount must be positive")]
pub struct CqrsNotPositive;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CAccount {
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CEvent {
    Deposited { amount: i64 },
}

impl cqrs_es::DomainEvent for CEvent {
    fn event_type(&self) -> String {
        "Deposited".to_owned()
    }
    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

pub enum CCmd {
    Deposit(i64),
}

impl cqrs_es::Aggregate for CAccount {
    const TYPE: &'static str = "account";
    type Command = CCmd;
    type Event = CEvent;
    type Error = CqrsNotPositive;
    type Services = ();

    async fn handle(
        &mut self,
        command: CCmd,
        _service: &(),
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), CqrsNotPositive> {
        match command {
            CCmd::Deposit(amount) if amount <= 0 => Err(CqrsNotPositive),
            CCmd::Deposit(amount) => {
                sink.write(CEvent::Deposited { amount }, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: CEvent) {
        let CEvent::Deposited { amount } = event;
        self.balance += amount;
    }
}

pub type CqrsMem = cqrs_es::CqrsFramework<CAccount, cqrs_es::mem_store::MemStore<CAccount>>;

pub fn cqrs_mem() -> Arc<CqrsMem> {
    Arc::new(cqrs_es::CqrsFramework::new(
        cqrs_es::mem_store::MemStore::default(),
        vec![],
        (),
    ))
}

/// Any cqrs-es framework (in-memory or PostgreSQL) on one aggregate id.
pub struct CqrsClient<ES: cqrs_es::EventStore<CAccount> + Send + Sync + 'static>
where
    ES::AC: Send,
{
    pub cqrs: Arc<cqrs_es::CqrsFramework<CAccount, ES>>,
    pub id: String,
}
impl<ES: cqrs_es::EventStore<CAccount> + Send + Sync + 'static> Client for CqrsClient<ES>
where
    ES::AC: Send,
{
    async fn op(&mut self) {
        self.cqrs
            .execute(&self.id, CCmd::Deposit(1))
            .await
            .expect("cqrs-es execute");
    }
}
