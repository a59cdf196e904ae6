//! Handles and errors are `Send + Sync` (a compile-time test).

mod common;

use aether_runtime::{
    ActorRef, AskError, BusError, Runtime, ShutdownTimeout, StartError, Subscription,
};
use common::{Account, AccountError};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_clone<T: Clone>() {}

#[test]
fn handles_and_errors_are_send_and_sync() {
    assert_send_sync::<Runtime>();
    assert_send_sync::<ActorRef<Account>>();
    assert_send_sync::<AskError<AccountError>>();
    assert_send_sync::<StartError>();
    assert_send_sync::<ShutdownTimeout>();
    assert_send_sync::<BusError>();
    assert_send_sync::<aether_core::StoreError>();
    assert_send::<Subscription>();
    assert_send_sync::<aether_runtime::NotDelivered<common::Cmd, AccountError>>();
}

/// Errors can be handed to several waiters (`join_all`, fan-out).
#[test]
fn errors_are_clone_when_the_domain_error_is() {
    assert_clone::<AskError<AccountError>>();
    assert_clone::<StartError>();
    assert_clone::<ShutdownTimeout>();
}

#[test]
fn ask_futures_are_send() {
    fn check<F: std::future::Future + Send>(_: F) {}
    let runtime: Option<Runtime> = None;
    if let Some(runtime) = runtime {
        let account = runtime.actor::<Account>("x");
        check(account.ask(common::Cmd::Get));
        check(account.tell(common::Cmd::Get));
        check(runtime.shutdown());
    }
}
