//! Changing events without breaking old histories.
//!
//! A cart service shipped three shapes of its events over time:
//!
//! | build | stored as | data |
//! |---|---|---|
//! | v0 | `ItemAdded` | `{"item": "d-4 x3", "price": "2.00"}` (sku and quantity in one field) |
//! | v1 | `ItemAdded` | `{"sku": "a-1", "price": "12.50"}` (a decimal string) |
//! | v2 | `LineAdded` | `{"sku": "a-1", "qty": 2, "price": "12.50"}` |
//! | v3 (this code) | `LineAdded` | `{"sku": "a-1", "quantity": 2, "cents": 1250}` |
//!
//! and a `Discounted` event v2 dropped (now read as a `CouponApplied`). The events stay
//! as they were stored; this build reads every shape:
//!
//! - the rename `ItemAdded` → `LineAdded`, the v0 field `item` split into `sku` and
//!   `quantity`, and the price string → cents are [`Upcasters`] steps, given with
//!   `#[aether(upcasters = ...)]`;
//! - the renamed field `qty` → `quantity` is `#[serde(alias = "qty")]`, and the quantity
//!   v1 did not have is `#[serde(default = ...)]`;
//! - a snapshot of the v2 state shape no longer decodes: it is discarded with a warning
//!   and the events are replayed.
//!
//! ```text
//! cargo run --example changing_events
//! ```

use std::sync::Arc;

use aether::{Actor, DomainEvent, Event, InMemoryStore, Runtime, Upcasters};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, DomainEvent)]
pub(crate) enum CartEvent {
    LineAdded {
        sku: String,
        #[serde(alias = "qty", default = "one")]
        quantity: u32,
        cents: u64,
    },
    /// v1 and v2 stored a discount as `Discounted {"percent": 10}`.
    CouponApplied {
        percent: u8,
    },
    CheckedOut,
}

fn one() -> u32 {
    1
}

/// v0, v1 and v2 → v3, each step written once, when its change was made.
pub(crate) fn cart_upcasters() -> Upcasters {
    Upcasters::new()
        .rename("ItemAdded", "LineAdded")
        .rename("Discounted", "CouponApplied")
        // v0 kept sku and quantity in one field: "d-4 x3".
        .map_data("LineAdded", |mut data| {
            if let Some(Value::String(item)) = data.get("item").cloned() {
                let (sku, quantity) = item
                    .rsplit_once(" x")
                    .ok_or_else(|| format!("item {item:?} is not \"<sku> x<quantity>\""))?;
                let quantity: u32 = quantity
                    .parse()
                    .map_err(|e| format!("item {item:?}: quantity: {e}"))?;
                data["sku"] = json!(sku);
                data["quantity"] = json!(quantity);
                if let Some(fields) = data.as_object_mut() {
                    fields.remove("item");
                }
            }
            Ok(data)
        })
        .map_data("LineAdded", |mut data| {
            if let Some(Value::String(price)) = data.get("price").cloned() {
                data["cents"] = json!(cents(&price)?);
                if let Some(fields) = data.as_object_mut() {
                    fields.remove("price");
                }
            }
            Ok(data)
        })
}

/// "12.50" → 1250, without going through floating point.
fn cents(price: &str) -> Result<u64, String> {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, "0"));
    let fraction = format!("{fraction:0<2}");
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|e| format!("price {price:?}: {e}"))
    };
    Ok(parse(whole)? * 100 + parse(&fraction[..2])?)
}

#[derive(Debug, Default, Serialize, Deserialize, Actor)]
#[aether(event = CartEvent, upcasters = cart_upcasters, snapshot_every = 100)]
pub(crate) struct Cart {
    pub(crate) lines: Vec<(String, u32, u64)>,
    pub(crate) percent_off: u8,
    pub(crate) checked_out: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the cart is checked out")]
pub(crate) struct CheckedOut;

#[aether::commands]
impl Cart {
    pub(crate) fn add(
        &self,
        sku: String,
        quantity: u32,
        cents: u64,
    ) -> Result<CartEvent, CheckedOut> {
        if self.checked_out {
            return Err(CheckedOut);
        }
        Ok(CartEvent::LineAdded {
            sku,
            quantity,
            cents,
        })
    }

    /// The total in cents, after the coupon.
    pub(crate) fn total(&self) -> u64 {
        let sum: u64 = self.lines.iter().map(|(_, q, c)| u64::from(*q) * c).sum();
        sum * u64::from(100 - self.percent_off.min(100)) / 100
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::LineAdded {
                sku,
                quantity,
                cents,
            } => self.lines.push((sku.clone(), *quantity, *cents)),
            CartEvent::CouponApplied { percent } => self.percent_off = *percent,
            CartEvent::CheckedOut => self.checked_out = true,
        }
    }
}

/// A history as the v0, v1 and v2 builds stored it, and a v2 snapshot.
pub(crate) async fn seed_old_history(store: &dyn aether::SnapshotStore, actor_id: &str) {
    let raw = |version: i64, event_type: &str, data: Value| Event {
        id: format!("old-{version}"),
        event_type: event_type.to_owned(),
        actor_id: actor_id.to_owned(),
        command_id: None,
        version,
        data,
        timestamp: chrono::Utc::now(),
    };
    store
        .save_events(&[
            raw(1, "ItemAdded", json!({ "sku": "a-1", "price": "12.50" })),
            raw(
                2,
                "LineAdded",
                json!({ "sku": "b-2", "qty": 2, "price": "3.05" }),
            ),
            raw(3, "Discounted", json!({ "percent": 10 })),
            raw(4, "ItemAdded", json!({ "item": "d-4 x3", "price": "2.00" })),
        ])
        .await
        .expect("a fresh store");
    // v2 kept the lines as a map: this build's state cannot read it.
    let snapshot = aether::ActorSnapshot {
        actor_id: actor_id.to_owned(),
        version: 2,
        state: json!({ "lines": { "a-1": 1250, "b-2": 610 } }),
        timestamp: chrono::Utc::now(),
    };
    store.save_snapshot(&snapshot).await.expect("a fresh store");
}

/// Reads the old history with this build, adds a line, and returns the total in cents.
pub(crate) async fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let store = Arc::new(InMemoryStore::new());
    seed_old_history(store.as_ref(), "Cart|c-1").await;
    let runtime = Runtime::new(store.clone());
    let cart = runtime.actor::<Cart>("c-1");
    println!("total of the old history: {} cents", cart.total().await?);
    cart.add("c-3".to_owned(), 1, 90).await?;
    let total = cart.total().await?;
    println!("after one more line: {total} cents");
    runtime.shutdown().await;
    Ok(total)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await?;
    Ok(())
}
