//! The order saga of `examples/order_saga.rs` survives `kill -9` mid-saga: 150 orders
//! are placed, then a child process runs the saga (one event per batch) and prints a line
//! per event handled; the parent SIGKILLs it after a seeded random number of lines (and
//! a seeded pause of up to 4 ms, so that kills land between an event's commands), 10
//! times, then lets a last child finish. The saga handles the events after its checkpoint
//! again after each kill, so commands are sent again: their derived ids must keep every
//! one from being applied twice.
//!
//! After each kill: no SKU reserves twice for one order, releases only what was
//! reserved, no order is both confirmed and cancelled. At the end: every order is
//! confirmed or cancelled; a confirmed order holds exactly its lines' reservations; a
//! cancelled one holds none; each SKU's stock is its initial stock minus what confirmed
//! orders hold.
//!
//! ```text
//! cargo test --all-features --test order_saga_kills -- --nocapture
//! ```
#![cfg(all(feature = "sqlite", feature = "macros", feature = "testkit"))]

mod process_common;

#[allow(dead_code)]
#[path = "../examples/order_saga.rs"]
mod order_saga;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aether::feed::FeedFilter;
use aether::projection::{self, ProjectionOptions};
use aether::sqlite::SqliteStore;
use aether::{decode_event, EventSourced, EventStore, Runtime};
use order_saga::{
    lines_of, Fulfilment, Order, OrderCommands, OrderEvent, Sku, SkuCommands, SkuEvent,
};
use process_common::{say, Child, Rng};

const CHILD_ENV: &str = "AETHER_ORDER_SAGA_CHILD";
const TEST: &str = "order_saga_survives_repeated_sigkill_mid_saga";
const ORDERS: u32 = 150;
const KILLS: usize = 10;
const STOCK: [(&str, u32); 3] = [("apple", 200), ("pear", 60), ("fig", 400)];

fn order_id(n: u32) -> String {
    format!("o-{n}")
}

/// The child: runs the saga, one event per batch, printing a line per event handled;
/// with `finish`, until the head, then exits.
fn child(spec: &str) {
    let (path, finish) = spec.split_once('|').expect("path|mode");
    let finish = finish == "finish";
    process_common::child_tokio().block_on(async move {
        let store = Arc::new(SqliteStore::open(path).await.expect("open"));
        let runtime = Runtime::new(store.clone());
        let saga = projection::spawn_process_manager(
            "fulfilment",
            &runtime,
            store.clone(),
            store.clone(),
            Fulfilment,
            ProjectionOptions::new()
                .batch_size(1)
                .filter(FeedFilter::all().actor_type(Order::ACTOR_TYPE)),
        );
        if finish {
            saga.wait_for_head().await.expect("the saga");
            say("saga done");
            saga.stop().await;
            runtime.shutdown().await;
            return;
        }
        let mut status = saga.watch();
        loop {
            let handled = status.borrow_and_update().handled;
            say(&format!("handled {handled}"));
            if status.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Every stored event of the orders and SKUs, decoded.
async fn histories(
    path: &Path,
) -> (
    BTreeMap<String, Vec<OrderEvent>>,
    BTreeMap<String, Vec<SkuEvent>>,
) {
    let store = SqliteStore::open(path).await.unwrap();
    let mut orders = BTreeMap::new();
    for n in 0..ORDERS {
        let id = order_id(n);
        let events = store
            .get_events(&aether::stored_actor_id::<Order>(&id), 1)
            .await
            .unwrap();
        let decoded = events
            .iter()
            .map(|e| decode_event::<Order>(e).unwrap())
            .collect();
        orders.insert(id, decoded);
    }
    let mut skus = BTreeMap::new();
    for (sku, _) in STOCK {
        let events = store
            .get_events(&aether::stored_actor_id::<Sku>(sku), 1)
            .await
            .unwrap();
        let decoded = events
            .iter()
            .map(|e| decode_event::<Sku>(e).unwrap())
            .collect();
        skus.insert(sku.to_owned(), decoded);
    }
    store.close().await.unwrap();
    (orders, skus)
}

/// What holds at any moment; returns the number of orders decided.
fn check_always(
    orders: &BTreeMap<String, Vec<OrderEvent>>,
    skus: &BTreeMap<String, Vec<SkuEvent>>,
    round: &str,
) -> usize {
    for (sku, events) in skus {
        let mut held: HashMap<&str, u32> = HashMap::new();
        let mut reservations: HashMap<&str, u32> = HashMap::new();
        for e in events {
            match e {
                SkuEvent::Reserved { order, quantity } => {
                    let n = reservations.entry(order).or_default();
                    *n += 1;
                    assert_eq!(*n, 1, "{round}: {sku} reserved twice for {order}");
                    held.insert(order, *quantity);
                }
                SkuEvent::Released { order, .. } => {
                    assert!(
                        held.remove(order.as_str()).is_some(),
                        "{round}: {sku} released {order}, which it did not hold"
                    );
                }
                SkuEvent::Restocked { .. } => {}
            }
        }
    }
    let mut decided = 0;
    for (id, events) in orders {
        let confirmed = events
            .iter()
            .filter(|e| matches!(e, OrderEvent::Confirmed))
            .count();
        let cancelled = events
            .iter()
            .filter(|e| matches!(e, OrderEvent::Cancelled { .. }))
            .count();
        assert!(
            confirmed + cancelled <= 1,
            "{round}: order {id} decided {confirmed} + {cancelled} times"
        );
        decided += confirmed + cancelled;
    }
    decided
}

fn check_final(
    orders: &BTreeMap<String, Vec<OrderEvent>>,
    skus: &BTreeMap<String, Vec<SkuEvent>>,
) -> (usize, usize) {
    check_always(orders, skus, "final");
    // What each SKU holds for each order at the end.
    let mut held: HashMap<(String, String), u32> = HashMap::new();
    let mut available: HashMap<String, i64> = HashMap::new();
    for (sku, events) in skus {
        for e in events {
            match e {
                SkuEvent::Restocked { quantity } => {
                    *available.entry(sku.clone()).or_default() += i64::from(*quantity)
                }
                SkuEvent::Reserved { order, quantity } => {
                    *available.entry(sku.clone()).or_default() -= i64::from(*quantity);
                    held.insert((sku.clone(), order.clone()), *quantity);
                }
                SkuEvent::Released { order, quantity } => {
                    *available.entry(sku.clone()).or_default() += i64::from(*quantity);
                    held.remove(&(sku.clone(), order.clone()));
                }
            }
        }
    }
    let (mut confirmed, mut cancelled) = (0, 0);
    let mut consumed: HashMap<String, i64> = HashMap::new();
    for n in 0..ORDERS {
        let id = order_id(n);
        let events = &orders[&id];
        let lines = lines_of(n);
        match events.last() {
            Some(OrderEvent::Confirmed) => {
                confirmed += 1;
                for line in &lines {
                    assert_eq!(
                        held.get(&(line.sku.clone(), id.clone())),
                        Some(&line.quantity),
                        "confirmed order {id} holds its {} line",
                        line.sku
                    );
                    *consumed.entry(line.sku.clone()).or_default() += i64::from(line.quantity);
                }
            }
            Some(OrderEvent::Cancelled { .. }) => {
                cancelled += 1;
                for (sku, _) in STOCK {
                    assert!(
                        !held.contains_key(&(sku.to_owned(), id.clone())),
                        "cancelled order {id} still holds {sku}"
                    );
                }
            }
            other => panic!("order {id} was never decided: last event {other:?}"),
        }
    }
    for (sku, stock) in STOCK {
        let left = available.get(sku).copied().unwrap_or(0);
        assert_eq!(
            left,
            i64::from(stock) - consumed.get(sku).copied().unwrap_or(0),
            "{sku}: stock left is the initial stock minus what confirmed orders hold"
        );
    }
    (confirmed, cancelled)
}

#[test]
fn order_saga_survives_repeated_sigkill_mid_saga() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let seed = process_common::seed();
    let mut rng = Rng::new(seed);
    eprintln!("{TEST}: seed {seed} (AETHER_SEED={seed} replays the kill points)");
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("saga.db");
    let tokio = process_common::child_tokio();
    tokio.block_on(async {
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        let runtime = Runtime::new(store);
        for (sku, stock) in STOCK {
            runtime.actor::<Sku>(sku).restock(stock).await.unwrap();
        }
        for n in 0..ORDERS {
            runtime
                .actor::<Order>(order_id(n))
                .place(lines_of(n))
                .await
                .unwrap();
        }
        runtime.shutdown().await;
    });
    let spec = |mode: &str| format!("{}|{mode}", path.display());
    let mut decided_before = 0;
    let mut mid_saga = 0;
    for round in 0..KILLS {
        let target = rng.range(2, 25);
        let child = Child::spawn(TEST, &[(CHILD_ENV, spec("kill"))]);
        let mut lines = 0;
        while lines < target {
            let line = child
                .next_line(Duration::from_secs(60))
                .expect("the child exited before it was killed");
            if line.starts_with("handled") {
                lines += 1;
            }
        }
        // The line comes right after a checkpoint; a seeded pause of up to 4 ms moves the
        // kill into the next event's commands (each a committed SQLite transaction). It
        // only chooses where the kill lands; nothing waits on it.
        std::thread::sleep(Duration::from_micros(rng.range(0, 4_000)));
        child.kill();
        let (orders, skus) = tokio.block_on(histories(&path));
        let decided = check_always(&orders, &skus, &format!("round {round}"));
        eprintln!("{TEST} round {round}: killed after {target} lines; {decided} of {ORDERS} orders decided");
        if decided > decided_before && decided < ORDERS as usize {
            mid_saga += 1;
        }
        decided_before = decided;
    }
    assert!(
        mid_saga >= KILLS / 2,
        "only {mid_saga} of {KILLS} kills landed mid-saga"
    );
    let child = Child::spawn(TEST, &[(CHILD_ENV, spec("finish"))]);
    let rest = child.finish(Duration::from_secs(120));
    assert!(rest.iter().any(|l| l.ends_with("saga done")), "{rest:?}");
    let (orders, skus) = tokio.block_on(histories(&path));
    let (confirmed, cancelled) = check_final(&orders, &skus);
    eprintln!("{TEST}: {KILLS} kills, {confirmed} orders confirmed, {cancelled} cancelled, stock consistent");
    assert!(
        confirmed > 0 && cancelled > 0,
        "both outcomes were exercised"
    );
}
