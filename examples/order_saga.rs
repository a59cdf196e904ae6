//! A process manager (saga) on the embedded SQLite store: an order placed reserves stock
//! on `Sku` actors, then confirms the order, or releases what it reserved and cancels it
//! when a SKU is out of stock.
//!
//! The saga is a projection of the store's feed: it resumes from its checkpoint after a
//! restart (or a `kill -9`), and handles the events after the checkpoint again. Each
//! command it sends carries an id derived from the event's id, so an actor that already
//! applied it does not apply it twice. `tests/order_saga_kills.rs` kills it mid-saga
//! again and again and checks that no stock is reserved twice or lost.
//!
//! ```text
//! cargo run --example order_saga          # writes ./order_saga.db
//! cargo run --example order_saga          # again: new orders, the saga resumes
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aether::feed::{FeedEvent, FeedFilter, HandlerError};
use aether::projection::{self, Commands, ProcessManager, ProjectionOptions};
use aether::sqlite::SqliteStore;
use aether::{async_trait, decode_event, Actor, AskError, DomainEvent, EventSourced, Runtime};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Orders

/// One line of an order: a quantity of a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Line {
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

#[derive(Debug, Clone, PartialEq, DomainEvent)]
pub(crate) enum OrderEvent {
    Placed { lines: Vec<Line> },
    Confirmed,
    Cancelled { reason: String },
}

/// Where an order is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum OrderStatus {
    #[default]
    New,
    Placed,
    Confirmed,
    Cancelled,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum OrderError {
    #[error("the order was placed already")]
    AlreadyPlaced,
    #[error("the order is {0:?}, not waiting for stock")]
    NotPlaced(OrderStatus),
}

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = OrderEvent)]
pub(crate) struct Order {
    status: OrderStatus,
}

#[aether::commands]
impl Order {
    /// Places the order.
    pub(crate) fn place(&self, lines: Vec<Line>) -> Result<OrderEvent, OrderError> {
        match self.status {
            OrderStatus::New => Ok(OrderEvent::Placed { lines }),
            _ => Err(OrderError::AlreadyPlaced),
        }
    }

    /// All stock is reserved: the order is confirmed.
    pub(crate) fn confirm(&self) -> Result<OrderEvent, OrderError> {
        match self.status {
            OrderStatus::Placed => Ok(OrderEvent::Confirmed),
            other => Err(OrderError::NotPlaced(other)),
        }
    }

    /// Some stock is missing: the order is cancelled.
    pub(crate) fn cancel(&self, reason: String) -> Result<OrderEvent, OrderError> {
        match self.status {
            OrderStatus::Placed => Ok(OrderEvent::Cancelled { reason }),
            other => Err(OrderError::NotPlaced(other)),
        }
    }

    /// Where the order is.
    pub(crate) fn status(&self) -> OrderStatus {
        self.status
    }

    fn apply(&mut self, event: &OrderEvent) {
        self.status = match event {
            OrderEvent::Placed { .. } => OrderStatus::Placed,
            OrderEvent::Confirmed => OrderStatus::Confirmed,
            OrderEvent::Cancelled { .. } => OrderStatus::Cancelled,
        };
    }
}

// ---------------------------------------------------------------------------------------
// Stock

#[derive(Debug, Clone, PartialEq, DomainEvent)]
pub(crate) enum SkuEvent {
    Restocked { quantity: u32 },
    Reserved { order: String, quantity: u32 },
    Released { order: String, quantity: u32 },
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum SkuError {
    #[error("out of stock: {available} available, {asked} asked")]
    OutOfStock { available: u32, asked: u32 },
}

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = SkuEvent)]
pub(crate) struct Sku {
    available: u32,
    /// Quantity reserved, by order.
    reserved: BTreeMap<String, u32>,
}

#[aether::commands]
impl Sku {
    /// Adds stock.
    pub(crate) fn restock(&self, quantity: u32) -> Result<SkuEvent, SkuError> {
        Ok(SkuEvent::Restocked { quantity })
    }

    /// Reserves `quantity` for `order`.
    pub(crate) fn reserve(&self, order: String, quantity: u32) -> Result<SkuEvent, SkuError> {
        if quantity > self.available {
            return Err(SkuError::OutOfStock {
                available: self.available,
                asked: quantity,
            });
        }
        Ok(SkuEvent::Reserved { order, quantity })
    }

    /// Gives back what `order` reserved, if anything.
    pub(crate) fn release(&self, order: String) -> Result<Vec<SkuEvent>, SkuError> {
        Ok(match self.reserved.get(&order) {
            Some(&quantity) => vec![SkuEvent::Released { order, quantity }],
            None => vec![],
        })
    }

    /// Stock not reserved.
    pub(crate) fn available(&self) -> u32 {
        self.available
    }

    fn apply(&mut self, event: &SkuEvent) {
        match event {
            SkuEvent::Restocked { quantity } => self.available += quantity,
            SkuEvent::Reserved { order, quantity } => {
                self.available -= quantity;
                *self.reserved.entry(order.clone()).or_default() += quantity;
            }
            SkuEvent::Released { order, quantity } => {
                self.available += quantity;
                self.reserved.remove(order);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The saga

/// Order placed → reserve each line's stock → confirm; or release and cancel.
pub(crate) struct Fulfilment;

#[async_trait]
impl ProcessManager for Fulfilment {
    async fn react(
        &mut self,
        event: &FeedEvent,
        commands: &mut Commands<'_>,
    ) -> Result<(), HandlerError> {
        let OrderEvent::Placed { lines } = decode_event::<Order>(&event.event)? else {
            return Ok(());
        };
        // The order's id, as given to `runtime.actor` ("Order|o-1" is stored).
        let order = event.event.actor_id.trim_start_matches("Order|").to_owned();
        let runtime = commands.runtime().clone();
        let mut reserved = Vec::new();
        let mut missing = None;
        for line in &lines {
            // Each command's options carry the next id derived from this event's id.
            let options = commands.options();
            let sku = runtime.actor::<Sku>(&line.sku);
            match sku
                .reserve_with(order.clone(), line.quantity, options)
                .await
            {
                // Reserved now, or before a crash (the actor remembers the command id).
                Ok(()) | Err(AskError::Duplicate { .. }) => reserved.push(line.sku.clone()),
                Err(AskError::Rejected { error, .. }) => {
                    missing = Some(format!("{}: {error}", line.sku));
                    break;
                }
                Err(other) => return Err(other.into()),
            }
        }
        let order_ref = runtime.actor::<Order>(&order);
        let decided = match missing {
            None => order_ref.confirm_with(commands.options()).await,
            Some(reason) => {
                for sku in &reserved {
                    let options = commands.options();
                    match runtime
                        .actor::<Sku>(sku)
                        .release_with(order.clone(), options)
                        .await
                    {
                        Ok(()) | Err(AskError::Duplicate { .. }) => {}
                        Err(other) => return Err(other.into()),
                    }
                }
                order_ref.cancel_with(reason, commands.options()).await
            }
        };
        match decided {
            Ok(()) | Err(AskError::Duplicate { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

/// Runs the saga over `store` until it has handled every event stored now.
pub(crate) async fn run_saga(
    store: Arc<SqliteStore>,
    runtime: &Runtime,
    batch_size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let saga = projection::spawn_process_manager(
        "fulfilment",
        runtime,
        store.clone(),
        store,
        Fulfilment,
        // Only orders' events reach the saga (its checkpoint moves past the others).
        ProjectionOptions::new()
            .batch_size(batch_size)
            .filter(FeedFilter::all().actor_type(Order::ACTOR_TYPE)),
    );
    saga.wait_for_head().await?;
    saga.stop().await;
    Ok(())
}

/// The SKUs and their stock at the start, and the orders of a run.
pub(crate) fn catalogue() -> Vec<(&'static str, u32)> {
    vec![("apple", 10), ("pear", 4), ("fig", 25)]
}

/// Order `n`'s lines: a mix that runs pears out first.
pub(crate) fn lines_of(n: u32) -> Vec<Line> {
    let line = |sku: &str, quantity| Line {
        sku: sku.to_owned(),
        quantity,
    };
    match n % 3 {
        0 => vec![line("apple", 2), line("pear", 1)],
        1 => vec![line("fig", 3), line("apple", 1)],
        _ => vec![line("pear", 2), line("fig", 1), line("apple", 1)],
    }
}

/// Restocks on the first run, places `orders` new orders, runs the saga; returns the
/// statuses of this run's orders.
pub(crate) async fn run(
    path: &Path,
    orders: u32,
) -> Result<BTreeMap<String, OrderStatus>, Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open(path).await?);
    let runtime = Runtime::new(store.clone());
    let first_run = runtime.actor::<Sku>("apple").available().await? == 0;
    if first_run {
        for (sku, stock) in catalogue() {
            runtime.actor::<Sku>(sku).restock(stock).await?;
        }
    }
    // Fresh order ids for each run.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let ids: Vec<String> = (0..orders).map(|n| format!("o-{run_id}-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        runtime.actor::<Order>(id).place(lines_of(n as u32)).await?;
    }
    run_saga(store, &runtime, 64).await?;
    let mut statuses = BTreeMap::new();
    for id in ids {
        let status = runtime.actor::<Order>(&id).status().await?;
        statuses.insert(id, status);
    }
    runtime.shutdown().await;
    Ok(statuses)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "order_saga.db".into());
    let statuses = run(path.as_ref(), 6).await?;
    for (order, status) in &statuses {
        println!("{order}: {status:?}");
    }
    println!("run again: new orders, and the saga resumes after its checkpoint");
    Ok(())
}
