//! A store built on a client the caller connected (`NatsStore::builder_from_client`):
//! it sets up the namespace like `NatsStore::builder(url)` does, and two stores on one
//! client and namespace see each other's writes.

mod common;

use std::time::Duration;

use aether_core::testkit::cases::event;
use aether_core::EventStore;
use aether_nats::NatsStore;

#[tokio::test]
async fn a_store_can_be_built_on_a_client_of_yours() {
    let connect = async_nats::connect(common::nats_url());
    let client = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => return common::backend_missing(&err.to_string()),
        Err(_) => return common::backend_missing("no connection within 5 s"),
    };
    let namespace = common::fresh_namespace();
    let store = NatsStore::builder_from_client(client.clone())
        .namespace(&namespace)
        .connect()
        .await
        .expect("set up the namespace on the given client");
    store.save_event(&event("account-1", 1)).await.unwrap();

    let again = NatsStore::builder_from_client(client)
        .namespace(&namespace)
        .connect()
        .await
        .expect("use the existing namespace");
    assert_eq!(again.namespace(), namespace);
    assert_eq!(again.get_latest_version("account-1").await.unwrap(), 1);
    store.delete_namespace().await.unwrap();
}
