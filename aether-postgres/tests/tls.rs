//! TLS and authentication against the PostgreSQL that `.ci/run` sets up (#17): ssl on with
//! a server certificate for localhost / 127.0.0.1 signed by a CI CA, the TLS-only users
//! `aether_tls` (scram-sha-256 password) and `aether_tls_cert` (client certificate).
//!
//! The files are in `AETHER_CI_TLS_DIR` (default `/var/lib/aether-ci/tls`). Without them a
//! test prints why and is skipped; under `CI=true` it fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use aether_core::EventStore;
use aether_postgres::{ConnectError, PostgresStore, PostgresStoreBuilder, SslMode};

use common::{drop_schema_blocking, event, unique_name};

/// The CI TLS setup: where its files are and the TLS user's password.
struct Setup {
    dir: PathBuf,
    ca: PathBuf,
    password: String,
}

impl Setup {
    fn find() -> Option<Setup> {
        let dir = PathBuf::from(
            std::env::var("AETHER_CI_TLS_DIR")
                .unwrap_or_else(|_| "/var/lib/aether-ci/tls".to_owned()),
        );
        let ca = std::env::var("AETHER_PG_TLS_CA").map_or_else(|_| dir.join("ca.crt"), Into::into);
        let found = std::fs::read_to_string(dir.join("pg-password"))
            .map(|p| p.trim().to_owned())
            .and_then(|password| std::fs::metadata(&ca).map(|_| password));
        match found {
            Ok(password) => Some(Setup { dir, ca, password }),
            Err(err) => {
                let why = format!(
                    "no PostgreSQL TLS setup in {} ({err}); `bash .ci/run setup` makes it",
                    dir.display()
                );
                if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                    panic!("CI=true and {why}");
                }
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A builder for the TLS-only password user on a fresh schema.
    fn builder(&self, url: &str) -> (PostgresStoreBuilder, String) {
        let schema = unique_name("aether_test");
        let builder = PostgresStore::builder(url)
            .schema(schema.clone())
            .connect_timeout(Duration::from_secs(5));
        (builder, schema)
    }
}

const TLS_USER_URL: &str = "postgres://aether_tls@127.0.0.1:5432/test";

/// Saves and reads an event, and asks the server whether the connection is encrypted.
async fn round_trip(store: &PostgresStore) -> bool {
    let saved = event("tls-account", 1, serde_json::json!({ "amount": 7 }));
    store.save_event(&saved).await.expect("save over TLS");
    let read = store
        .get_events("tls-account", 0)
        .await
        .expect("read over TLS");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data, saved.data);
    let client = store.pool().get().await.expect("a pooled connection");
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    row.get(0)
}

/// The error text (and its sources) holds no password.
fn assert_no_secret(err: &ConnectError, secret: &str) {
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(
        !text.contains(secret),
        "the password is in the error: {text}"
    );
}

#[tokio::test]
async fn verify_full_with_the_ca_file_and_a_password_connects_encrypted() {
    let Some(setup) = Setup::find() else { return };
    let (builder, schema) = setup.builder(TLS_USER_URL);
    let store = builder
        .password(&setup.password)
        .ssl_mode(SslMode::VerifyFull)
        .tls_ca_file(&setup.ca)
        .connect()
        .await
        .expect("verify-full with the CI CA and the right password");
    assert!(round_trip(&store).await, "the connection is not encrypted");
    let shown = format!("{store:?}");
    assert!(!shown.contains(&setup.password), "{shown}");
    drop(store);
    drop_schema_blocking(&schema);
}

#[tokio::test]
async fn the_url_s_sslmode_sslrootcert_and_password_are_honoured() {
    let Some(setup) = Setup::find() else { return };
    let url = format!(
        "postgres://aether_tls:{}@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert={}",
        setup.password,
        setup.ca.display()
    );
    let (builder, schema) = setup.builder(&url);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(&setup.password), "{shown}");
    let store = builder.connect().await.expect("verify-full from the url");
    assert!(round_trip(&store).await);
    drop(store);
    drop_schema_blocking(&schema);
}

#[tokio::test]
async fn a_client_certificate_logs_in_the_cert_user() {
    let Some(setup) = Setup::find() else { return };
    let url = "postgres://aether_tls_cert@127.0.0.1:5432/test";
    let (builder, schema) = setup.builder(url);
    let store = builder
        .ssl_mode(SslMode::VerifyFull)
        .tls_ca_file(&setup.ca)
        .tls_client_cert(setup.file("client.crt"), setup.file("client.key"))
        .connect()
        .await
        .expect("client certificate login");
    assert!(round_trip(&store).await);
    drop(store);
    drop_schema_blocking(&schema);

    // Without the certificate the server refuses the user.
    let (builder, _) = setup.builder(url);
    let err = builder
        .ssl_mode(SslMode::VerifyFull)
        .tls_ca_file(&setup.ca)
        .connect()
        .await
        .expect_err("no client certificate");
    assert!(
        matches!(err, ConnectError::Authentication { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused_naming_the_host() {
    let Some(setup) = Setup::find() else { return };
    for builder in [
        setup
            .builder(TLS_USER_URL)
            .0
            .ssl_mode(SslMode::VerifyFull)
            .tls_ca_file(setup.file("other-ca.crt")),
        // The system's roots do not hold the CI CA either.
        setup.builder(TLS_USER_URL).0.ssl_mode(SslMode::VerifyCa),
        // A CA file makes `require` verify the chain, as in libpq.
        setup
            .builder(TLS_USER_URL)
            .0
            .ssl_mode(SslMode::Require)
            .tls_ca_file(setup.file("other-ca.crt")),
    ] {
        let err = builder
            .password(&setup.password)
            .connect()
            .await
            .expect_err("a certificate no trusted CA signed");
        let ConnectError::Tls { target, reason, .. } = &err else {
            panic!("expected ConnectError::Tls, got {err:?}");
        };
        assert_eq!(target, "127.0.0.1:5432/test");
        assert!(reason.contains("not signed by a trusted CA"), "{reason}");
        assert!(err.to_string().contains("127.0.0.1:5432"), "{err}");
        assert_no_secret(&err, &setup.password);
    }
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_carry_fails_verify_full_only() {
    let Some(setup) = Setup::find() else { return };
    // Connects to 127.0.0.1, but checks the certificate against the name in `host`.
    let url = format!(
        "host=not-in-the-cert.invalid hostaddr=127.0.0.1 port=5432 user=aether_tls dbname=test \
         sslrootcert={}",
        setup.ca.display()
    );
    let (builder, _) = setup.builder(&url);
    let err = builder
        .password(&setup.password)
        .ssl_mode(SslMode::VerifyFull)
        .connect()
        .await
        .expect_err("a name the certificate does not carry");
    let ConnectError::Tls { reason, .. } = &err else {
        panic!("expected ConnectError::Tls, got {err:?}");
    };
    assert!(
        reason.contains("not valid for the host name \"not-in-the-cert.invalid\""),
        "{reason}"
    );
    assert_no_secret(&err, &setup.password);

    // verify-ca checks the chain only.
    let (builder, schema) = setup.builder(&url);
    let store = builder
        .password(&setup.password)
        .ssl_mode(SslMode::VerifyCa)
        .connect()
        .await
        .expect("verify-ca ignores the name");
    assert!(round_trip(&store).await);
    drop(store);
    drop_schema_blocking(&schema);
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error_without_the_password() {
    let Some(setup) = Setup::find() else { return };
    let wrong = "wrong-password-7f3a9c";
    let url = format!(
        "postgres://aether_tls:{wrong}@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert={}",
        setup.ca.display()
    );
    let (builder, _) = setup.builder(&url);
    let err = builder.connect().await.expect_err("a wrong password");
    assert!(
        matches!(err, ConnectError::Authentication { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("28P01"), "{err}");
    assert_no_secret(&err, wrong);
}

#[tokio::test]
async fn a_plain_connection_of_the_tls_only_user_is_refused() {
    let Some(setup) = Setup::find() else { return };
    let (builder, _) = setup.builder(TLS_USER_URL);
    let err = builder
        .password(&setup.password)
        .ssl_mode(SslMode::Disable)
        .connect()
        .await
        .expect_err("hostnossl ... reject");
    assert!(
        matches!(err, ConnectError::Authentication { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no encryption"), "{err}");
    assert_no_secret(&err, &setup.password);

    // `require` without a CA encrypts without checking the certificate: accepted.
    let (builder, schema) = setup.builder(TLS_USER_URL);
    let store = builder
        .password(&setup.password)
        .ssl_mode(SslMode::Require)
        .connect()
        .await
        .expect("require without a CA");
    assert!(round_trip(&store).await);
    drop(store);
    drop_schema_blocking(&schema);
}

/// A server that answers every SSLRequest with `N` (no TLS), as one with `ssl = off`.
async fn server_without_tls() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    let _ = socket.write_all(b"N").await;
                    let mut rest = Vec::new();
                    let _ = socket.read_to_end(&mut rest).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_server_without_tls_is_refused_when_the_mode_requires_it() {
    let addr = server_without_tls().await;
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let err = PostgresStore::builder(format!(
            "postgres://app:s3cret-pw@127.0.0.1:{}/app",
            addr.port()
        ))
        .ssl_mode(mode)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("no TLS offered");
        let ConnectError::Tls { target, reason, .. } = &err else {
            panic!("expected ConnectError::Tls for {mode}, got {err:?}");
        };
        assert_eq!(target, &format!("127.0.0.1:{}/app", addr.port()));
        assert!(reason.contains("does not offer TLS"), "{reason}");
        assert_no_secret(&err, "s3cret-pw");
    }
}

#[tokio::test]
async fn unreadable_tls_files_are_configuration_errors_naming_the_file() {
    let err = PostgresStore::builder("postgres://app@127.0.0.1:1/app")
        .ssl_mode(SslMode::VerifyFull)
        .tls_ca_file("/nonexistent/ca.pem")
        .connect()
        .await
        .expect_err("no such CA file");
    let ConnectError::Config { reason } = &err else {
        panic!("expected ConnectError::Config, got {err:?}");
    };
    assert!(reason.contains("/nonexistent/ca.pem"), "{reason}");

    let err = PostgresStore::connect("postgres://app@127.0.0.1:1/app?sslmode=allow")
        .await
        .expect_err("allow is not supported");
    assert!(
        err.to_string().contains("unknown sslmode \"allow\""),
        "{err}"
    );
}
