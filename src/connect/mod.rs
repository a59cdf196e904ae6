//! One-line stores: [`connect`] opens the store a URL names, with the store features
//! compiled in, and gives an [`AnyStore`] usable as every store trait at once.
//!
//! | URL | Store | Feature |
//! |---|---|---|
//! | `memory:` | [`InMemoryStore`] (empty, gone with the process) | always |
//! | `sqlite://events.db`, `sqlite://data/events.db` | SQLite file, path relative to the working directory | `sqlite` |
//! | `sqlite:///var/lib/app/events.db` | SQLite file, absolute path | `sqlite` |
//! | `postgres://user:pw@host:5432/db?schema=tenant_a` (or `postgresql://`) | PostgreSQL, tables in schema `tenant_a` (default `aether`) | `postgres` |
//! | `nats://host:4222?namespace=orders` | NATS JetStream, namespace `orders` (default `default`) | `nats` |
//!
//! `schema` and `namespace` are aether's own query parameters: they are taken out before
//! the rest of the URL goes to the store's builder (a PostgreSQL URL keeps its other
//! parameters, such as `sslmode`). For other settings, build the store with its builder
//! and wrap it with [`AnyStore::new`].
//!
//! # Passwords
//!
//! Every URL aether shows (in a [`ConnectUrlError`], a `Debug` or a log line) goes through
//! [`redact_url`] first: `postgres://app:secret@db/app` is shown as
//! `postgres://app:***@db/app`. A store error whose text contains the password is replaced
//! by its text with the password masked.
//!
//! # Examples
//!
//! ```
//! use aether::feed::{EventFeed, FeedFilter, Position};
//! use aether::EventStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = aether::connect("memory:").await?;
//! assert_eq!(store.get_latest_version("Account|1").await?, 0);
//! assert!(store.read_feed(Position::START, &FeedFilter::all(), 10).await?.events.is_empty());
//! let runtime = store.runtime_builder().build();
//! # runtime.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use aether_core::{CheckpointStore, EventFeed, InMemoryStore, SnapshotStore};

mod error;
mod parse;
mod redact;
mod store;

pub use error::ConnectUrlError;
pub use parse::SCHEMES;
pub use redact::redact_url;
pub use store::{AnyStore, StoreKind};

use parse::{parse, Parsed};

/// Everything a complete store is: events and snapshots ([`SnapshotStore`]), the feed
/// ([`EventFeed`]) and projection checkpoints ([`CheckpointStore`]). Implemented for every
/// type that is all three; every store of aether is.
pub trait Store: SnapshotStore + EventFeed + CheckpointStore {}

impl<T: SnapshotStore + EventFeed + CheckpointStore + ?Sized> Store for T {}

/// Opens the store `url` names (see [the module docs](self) for the forms), with the
/// store features compiled in.
///
/// # Errors
///
/// [`ConnectUrlError::UnknownScheme`], [`FeatureDisabled`](ConnectUrlError::FeatureDisabled),
/// [`Malformed`](ConnectUrlError::Malformed), or [`Store`](ConnectUrlError::Store) with
/// the store's own error when it cannot be opened or reached.
///
/// # Panics
///
/// Outside a tokio runtime (the stores start tasks or threads on it).
pub async fn connect(url: &str) -> Result<AnyStore, ConnectUrlError> {
    let parsed = parse(url)?;
    match parsed {
        Parsed::Memory => Ok(AnyStore::with_kind(
            Arc::new(InMemoryStore::new()),
            StoreKind::Memory,
            url,
        )),
        #[cfg(feature = "sqlite")]
        Parsed::Sqlite { path } => {
            let store = aether_sqlite::SqliteStore::open(&path)
                .await
                .map_err(|e| error::store_error(StoreKind::Sqlite, url, e))?;
            Ok(AnyStore::with_kind(Arc::new(store), StoreKind::Sqlite, url))
        }
        #[cfg(feature = "postgres")]
        Parsed::Postgres {
            url: pg_url,
            schema,
        } => {
            let mut builder = aether_postgres::PostgresStore::builder(pg_url);
            if let Some(schema) = schema {
                builder = builder.schema(schema);
            }
            let store = builder
                .connect()
                .await
                .map_err(|e| error::store_error(StoreKind::Postgres, url, e))?;
            Ok(AnyStore::with_kind(
                Arc::new(store),
                StoreKind::Postgres,
                url,
            ))
        }
        #[cfg(feature = "nats")]
        Parsed::Nats {
            url: nats_url,
            namespace,
        } => {
            let mut builder = aether_nats::NatsStore::builder(nats_url);
            if let Some(namespace) = namespace {
                builder = builder.namespace(namespace);
            }
            let store = builder
                .connect()
                .await
                .map_err(|e| error::store_error(StoreKind::Nats, url, e))?;
            Ok(AnyStore::with_kind(Arc::new(store), StoreKind::Nats, url))
        }
    }
}
