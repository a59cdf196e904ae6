//! Errors the server reports reach the caller with the server's reason and SQLSTATE in
//! their message, not only the driver's "db error".

mod common;

use std::error::Error as _;
use std::time::Duration;

use aether_core::{EventStore, StoreError};
use aether_postgres::driver::SqlState;
use aether_postgres::{PostgresError, PostgresStore};
use serde_json::json;

/// The SQLSTATE code of a backend error's source, read through the public error type.
fn code_of(err: &StoreError) -> Option<SqlState> {
    match err {
        StoreError::Backend { source, .. } => source
            .downcast_ref::<PostgresError>()
            .and_then(PostgresError::code)
            .cloned(),
        _ => None,
    }
}

#[track_caller]
fn assert_names_server_reason(what: &str, message: &str, reason: &str, code: &str) {
    assert!(
        message.contains(reason) && message.contains(&format!("(SQLSTATE {code})")),
        "{what}: the message should carry the server's reason {reason:?} and SQLSTATE {code}: \
         {message}"
    );
}

/// Polls the server (bounded) until `count` connections of `app` wait for a lock.
async fn wait_for_lock_waiters(admin: &tokio_postgres::Client, app: &str, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&app],
            )
            .await
            .expect("reading pg_stat_activity")
            .get(0);
        if waiting >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store's statements never waited for the table lock ({waiting} of {count})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A read and a write waiting on the server when their sessions are terminated fail with
/// backend errors that say "terminating connection due to administrator command" and
/// 57P01.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_sessions_name_the_server_reason_and_sqlstate() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    test.store
        .save_event(&common::event("held", 1, json!({})))
        .await
        .unwrap();
    let mut admin = common::raw_client().await;
    let locker = admin.transaction().await.expect("locking transaction");
    locker
        .batch_execute(&format!(
            "LOCK TABLE \"{}\".events IN ACCESS EXCLUSIVE MODE",
            test.schema
        ))
        .await
        .expect("locking the events table");
    let (reader, writer) = (test.store.clone(), test.store.clone());
    let read = tokio::spawn(async move { reader.get_events("held", 0).await });
    let write = tokio::spawn(async move {
        writer
            .save_event(&common::event("held", 2, json!({})))
            .await
    });
    let observer = common::raw_client().await;
    wait_for_lock_waiters(&observer, &test.app, 2).await;
    let terminated = common::terminate_connections(&observer, &test.app).await;
    assert!(terminated >= 2, "terminated {terminated} sessions");
    locker.rollback().await.expect("releasing the lock");

    let read = read.await.expect("read task").expect_err("the read fails");
    let write = write
        .await
        .expect("write task")
        .expect_err("the write fails");
    for (what, err) in [("get_events", &read), ("save_event", &write)] {
        assert!(matches!(err, StoreError::Backend { .. }), "{what}: {err:?}");
        assert_names_server_reason(
            what,
            &err.to_string(),
            "terminating connection due to administrator command",
            "57P01",
        );
        assert_eq!(
            code_of(err),
            Some(SqlState::ADMIN_SHUTDOWN),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains("\"held\""),
            "{what} names the actor: {err}"
        );
    }
}

/// A statement the server refuses (its table was dropped under the store) fails with the
/// server's message and SQLSTATE 42P01, on the read and on the write path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_statements_name_the_server_reason_and_sqlstate() {
    let Some(test) = common::fresh_store().await else {
        return;
    };
    let admin = common::raw_client().await;
    admin
        .batch_execute(&format!("DROP TABLE \"{}\".events CASCADE", test.schema))
        .await
        .expect("dropping the events table");
    let read = test.store.get_events("gone", 0).await.unwrap_err();
    let write = test
        .store
        .save_event(&common::event("gone", 1, json!({})))
        .await
        .unwrap_err();
    for (what, err) in [("get_events", &read), ("save_event", &write)] {
        assert_names_server_reason(what, &err.to_string(), "does not exist", "42P01");
        assert_eq!(
            code_of(err),
            Some(SqlState::UNDEFINED_TABLE),
            "{what}: {err:?}"
        );
        let source = err.source().expect("a source");
        let driver = source
            .source()
            .and_then(|s| s.downcast_ref::<tokio_postgres::Error>());
        assert!(
            driver.is_some(),
            "{what}: the driver's error stays reachable as the source: {err:?}"
        );
    }
}

/// A connection the server refuses (no such database) fails to connect with the server's
/// reason and SQLSTATE 3D000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_name_the_server_reason_and_sqlstate() {
    // Only meaningful with a reachable server (else the error is "connection refused").
    let Some(_reachable) = common::fresh_store().await else {
        return;
    };
    let mut config: tokio_postgres::Config = common::url().parse().expect("test url");
    let missing = common::unique_name("aether_missing_db");
    config.dbname(&missing);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let url = format!(
        "host=127.0.0.1 port={} user={user} dbname={missing}",
        config.get_ports().first().copied().unwrap_or(5432)
    );
    let err = PostgresStore::builder(url)
        .schema(common::unique_name("aether_test"))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("no such database");
    assert_names_server_reason(
        "connect",
        &err.to_string(),
        &format!("database \"{missing}\" does not exist"),
        "3D000",
    );
}
