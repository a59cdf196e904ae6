//! The examples run, and do what they say.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code)]
#[path = "../examples/shopping_cart.rs"]
mod shopping_cart;

#[tokio::test]
async fn quickstart_rehydrates_on_its_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quickstart.db");
    let first = quickstart::run(&path).await.unwrap();
    assert_eq!(
        first,
        quickstart::Seen {
            balance_at_start: 0,
            balance_at_end: 70,
            passivated: true,
        }
    );
    let second = quickstart::run(&path).await.unwrap();
    assert_eq!(
        second,
        quickstart::Seen {
            balance_at_start: 70,
            balance_at_end: 140,
            passivated: true,
        }
    );
}

#[tokio::test]
async fn shopping_cart_feeds_its_read_model() {
    // Totals: cart-1 3*40 + 2*120 = 360; cart-2 (6*40 + 240) * 0.9 = 432;
    // cart-3 (9*40 + 240) * 0.5 = 300.
    assert_eq!(shopping_cart::run().await.unwrap(), 360 + 432 + 300);
}

#[allow(dead_code)]
#[path = "../examples/changing_events.rs"]
mod changing_events;

#[tokio::test]
async fn changing_events_reads_every_old_shape() {
    // a-1: 1 x 1250 (v1 had no quantity), b-2: 2 x 305, d-4: 3 x 200 (v0's "d-4 x3"),
    // c-3: 1 x 90; 10% off.
    assert_eq!(
        changing_events::run().await.unwrap(),
        (1250 + 610 + 600 + 90) * 90 / 100
    );
}

/// The test kit reads the same old shapes through the upcasters.
#[test]
fn the_test_kit_takes_old_shapes() {
    use aether::testkit::TestKit;
    use changing_events::{Cart, CartCommand, CartEvent};
    use serde_json::json;

    TestKit::<Cart>::given_stored([
        ("ItemAdded", json!({ "sku": "a-1", "price": "12.50" })),
        ("Discounted", json!({ "percent": 10 })),
    ])
    .when(CartCommand::Add {
        sku: "b-2".to_owned(),
        quantity: 2,
        cents: 305,
    })
    .then_events([CartEvent::LineAdded {
        sku: "b-2".to_owned(),
        quantity: 2,
        cents: 305,
    }])
    .then_state(|cart| {
        assert_eq!(cart.lines[0], ("a-1".to_owned(), 1, 1250));
        assert_eq!(cart.percent_off, 10);
    });
}

// It loads `quickstart.rs` too (for the account actor), as the example itself does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/read_model.rs"]
mod read_model;

#[tokio::test]
async fn read_model_resumes_after_its_checkpoint_on_its_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read_model.db");
    let first = read_model::run(&path).await.unwrap();
    assert_eq!(
        first,
        read_model::Seen {
            handled: 3,
            ledger_rows: 3,
            balance: 70,
        }
    );
    let second = read_model::run(&path).await.unwrap();
    assert_eq!(
        second,
        read_model::Seen {
            handled: 2,
            ledger_rows: 5,
            balance: 140,
        },
        "only the two new events are handled"
    );
}

#[allow(dead_code)]
#[path = "../examples/order_saga.rs"]
mod order_saga;

#[tokio::test]
async fn order_saga_confirms_what_is_in_stock_and_cancels_the_rest() {
    use order_saga::OrderStatus::{Cancelled, Confirmed};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order_saga.db");
    // Stock: apple 10, pear 4, fig 25. Orders 0..6 in turn ask
    // (apple 2, pear 1), (fig 3, apple 1), (pear 2, fig 1, apple 1): pears run out at
    // order 5, which is cancelled and releases what it had reserved.
    let statuses: Vec<_> = order_saga::run(&path, 6)
        .await
        .unwrap()
        .into_values()
        .collect();
    assert_eq!(
        statuses,
        [Confirmed, Confirmed, Confirmed, Confirmed, Confirmed, Cancelled]
    );
    let second: Vec<_> = order_saga::run(&path, 3)
        .await
        .unwrap()
        .into_values()
        .collect();
    // Left: apple 10-2-1-1-2-1 = 3, pear 0, fig 25-3-1-3 = 18. New order 0 needs a pear,
    // order 1 (fig 3, apple 1) fits, order 2 needs pears.
    assert_eq!(second, [Cancelled, Confirmed, Cancelled]);
}

#[cfg(feature = "metrics")]
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/metrics.rs"]
mod metrics_example;

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_example_serves_the_runtimes_metrics_to_a_scrape() {
    let (_, text) = metrics_example::run("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    for wanted in [
        r#"aether_commands_total{actor_type="Account",outcome="ok"} 3"#,
        r#"aether_commands_total{actor_type="Account",outcome="rejected"} 1"#,
        r#"aether_events_persisted_total{actor_type="Account"} 3"#,
        "aether_ask_seconds",
        "aether_store_seconds",
    ] {
        assert!(
            text.contains(wanted),
            "{wanted:?} not in the scrape:\n{text}"
        );
    }
}
