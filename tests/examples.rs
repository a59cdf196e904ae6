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
