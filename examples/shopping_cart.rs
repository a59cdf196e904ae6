//! A shopping cart: commands that record several events at once, snapshots every few
//! events, and a subscriber on the event bus that keeps a read model (revenue per item)
//! up to date as carts check out.
//!
//! ```text
//! cargo run --example shopping_cart
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use aether::{Actor, DomainEvent, InMemoryStore, Runtime, SubscriptionFilter};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, DomainEvent)]
pub(crate) enum CartEvent {
    ItemAdded {
        sku: String,
        quantity: u32,
        unit_price: u64,
    },
    ItemRemoved {
        sku: String,
    },
    DiscountApplied {
        percent: u8,
    },
    CheckedOut {
        total: u64,
    },
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum CartError {
    #[error("the cart is already checked out")]
    CheckedOut,
    #[error("the cart is empty")]
    Empty,
    #[error("no item {0:?} in the cart")]
    NoSuchItem(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Line {
    quantity: u32,
    unit_price: u64,
}

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = CartEvent, snapshot_every = 5)]
pub(crate) struct Cart {
    lines: BTreeMap<String, Line>,
    discount: u8,
    checked_out: bool,
}

impl Cart {
    fn total(&self) -> u64 {
        let gross: u64 = self
            .lines
            .values()
            .map(|l| l.unit_price * u64::from(l.quantity))
            .sum();
        gross * u64::from(100 - self.discount) / 100
    }

    fn open(&self) -> Result<(), CartError> {
        if self.checked_out {
            Err(CartError::CheckedOut)
        } else {
            Ok(())
        }
    }
}

#[aether::commands]
impl Cart {
    /// Adds items (one event per item, stored atomically together).
    pub(crate) fn add_items(
        &self,
        items: Vec<(String, u32, u64)>,
    ) -> Result<Vec<CartEvent>, CartError> {
        self.open()?;
        Ok(items
            .into_iter()
            .map(|(sku, quantity, unit_price)| CartEvent::ItemAdded {
                sku,
                quantity,
                unit_price,
            })
            .collect())
    }

    /// Removes an item.
    pub(crate) fn remove_item(&self, sku: String) -> Result<CartEvent, CartError> {
        self.open()?;
        if !self.lines.contains_key(&sku) {
            return Err(CartError::NoSuchItem(sku));
        }
        Ok(CartEvent::ItemRemoved { sku })
    }

    /// Checks out with an optional discount: two events in one atomic append. Answers
    /// the total charged.
    pub(crate) fn check_out(&self, discount: u8) -> Result<(u64, Vec<CartEvent>), CartError> {
        self.open()?;
        if self.lines.is_empty() {
            return Err(CartError::Empty);
        }
        let discount = discount.min(100);
        let gross: u64 = self
            .lines
            .values()
            .map(|l| l.unit_price * u64::from(l.quantity))
            .sum();
        let total = gross * u64::from(100 - discount) / 100;
        Ok((
            total,
            vec![
                CartEvent::DiscountApplied { percent: discount },
                CartEvent::CheckedOut { total },
            ],
        ))
    }

    /// The total as it stands.
    pub(crate) fn current_total(&self) -> u64 {
        self.total()
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::ItemAdded {
                sku,
                quantity,
                unit_price,
            } => {
                let line = self.lines.entry(sku.clone()).or_insert(Line {
                    quantity: 0,
                    unit_price: *unit_price,
                });
                line.quantity += quantity;
            }
            CartEvent::ItemRemoved { sku } => {
                self.lines.remove(sku);
            }
            CartEvent::DiscountApplied { percent } => self.discount = *percent,
            CartEvent::CheckedOut { .. } => self.checked_out = true,
        }
    }
}

/// Runs three carts and returns the revenue the read model saw.
pub(crate) async fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let store = Arc::new(InMemoryStore::new());
    let runtime = Runtime::new(store.clone());

    // A read model fed by the bus: revenue from checked-out carts.
    let mut checkouts = runtime.subscribe(SubscriptionFilter::event_type("CheckedOut"));
    let read_model = tokio::spawn(async move {
        let mut revenue = 0;
        for _ in 0..3 {
            let published = checkouts.recv().await?;
            let total = published.event.data["total"].as_u64().unwrap_or(0);
            println!("read model: cart {} checked out for {total}", published.id);
            revenue += total;
        }
        Ok::<u64, aether::BusError>(revenue)
    });

    for (n, discount) in [(1, 0), (2, 10), (3, 50)] {
        let cart = runtime.actor::<Cart>(format!("cart-{n}"));
        cart.add_items(vec![("apple".into(), 3 * n, 40), ("pear".into(), 1, 75)])
            .await?;
        cart.add_items(vec![("fig".into(), 2, 120)]).await?;
        cart.remove_item("pear".into()).await?;
        if let Err(err) = cart.remove_item("kiwi".into()).await {
            println!("cart-{n}: {err}");
        }
        let total = cart.check_out(discount).await?;
        println!("cart-{n}: checked out for {total} ({discount}% off)");
    }
    let revenue = read_model.await??;
    println!("revenue seen by the read model: {revenue}");

    let snapshot = aether::SnapshotStore::get_latest_snapshot(&*store, "Cart|cart-3").await?;
    println!(
        "cart-3's latest snapshot is at version {:?}",
        snapshot.map(|s| s.version)
    );
    runtime.shutdown().await;
    Ok(revenue)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await?;
    Ok(())
}
