//! Exactly-once projections: [`PostgresProjection`], a read model written in the store's
//! own database, and [`PostgresProjectionSink`], which commits each batch's effects and
//! the projection's checkpoint in one transaction.

use std::fmt;
use std::future::Future;

use aether_core::{
    async_trait, FeedError, FeedEvent, FeedItem, HandlerError, Position, ProjectionSink, SinkError,
};
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use crate::error::{PostgresError, TimedOut};
use crate::feed::{check_projection_name, decode_checkpoint, Fault};
use crate::store::PostgresStore;

/// A read model kept in the store's PostgreSQL database and fed exactly once: its
/// handler writes through the transaction that also advances its checkpoint, so a batch's
/// effects and its checkpoint commit together or not at all.
///
/// Give it to [`PostgresStore::exactly_once`] to get a
/// [`ProjectionSink`](aether_core::ProjectionSink). See the
/// [crate docs](crate#exactly-once-projections) for an example.
///
/// The handler must do all its writes through `tx` (anything else is outside the
/// transaction, and may be repeated or kept when a batch fails), and keep no state of its
/// own that a rolled-back batch would leave changed.
///
/// `E` is what the handler is given: the owned [`FeedEvent`] (the default), or
/// [`Decoded<T>`](aether_core::Decoded), the projection's own type decoded by
/// [`FeedDecode`](aether_core::FeedDecode) from each event of the feed.
#[async_trait]
pub trait PostgresProjection<E: FeedItem = FeedEvent>: Send + 'static {
    /// Applies one event to the read model, in `tx`. An error rolls the whole batch back
    /// (its effects and its checkpoint) and stops the projection at this event.
    async fn handle(&mut self, tx: &Transaction<'_>, event: &E) -> Result<(), HandlerError>;

    /// Empties the read model, in `tx`, before a rebuild from the start of the feed; the
    /// checkpoint is deleted in the same transaction. The default does nothing.
    async fn reset(&mut self, tx: &Transaction<'_>) -> Result<(), HandlerError> {
        let _ = tx;
        Ok(())
    }
}

/// The exactly-once [`ProjectionSink`] of a [`PostgresProjection`], made by
/// [`PostgresStore::exactly_once`].
///
/// - [`commit`](ProjectionSink::commit) takes a pooled connection, opens a transaction,
///   runs the handler on each event, upserts the checkpoint row and commits. A handler
///   error rolls everything back and returns [`SinkError::Handler`] with the failed
///   event's position.
/// - [`checkpoint`](ProjectionSink::checkpoint) and [`skip_to`](ProjectionSink::skip_to)
///   read and write the checkpoint row (the `projection_checkpoints` table, shared with
///   the store's [`CheckpointStore`](aether_core::CheckpointStore)).
/// - [`reset`](ProjectionSink::reset) runs [`PostgresProjection::reset`] and deletes the
///   checkpoint in one transaction.
///
/// While a batch's transaction is open it holds back every feed reader of the database
/// (see the crate docs' "Feed" section), so keep batches short.
pub struct PostgresProjectionSink<P> {
    store: PostgresStore,
    projection: P,
}

impl<P> fmt::Debug for PostgresProjectionSink<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProjectionSink")
            .field("store", &self.store)
            .field("projection", &std::any::type_name::<P>())
            .finish()
    }
}

impl PostgresStore {
    /// An exactly-once sink that feeds `projection` in this store's database and keeps
    /// its checkpoint in the store's schema.
    pub fn exactly_once<P: Send + 'static>(&self, projection: P) -> PostgresProjectionSink<P> {
        PostgresProjectionSink {
            store: self.clone(),
            projection,
        }
    }
}

impl<P> PostgresProjectionSink<P> {
    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection, mutably.
    pub fn projection_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    /// The projection, given back.
    pub fn into_projection(self) -> P {
        self.projection
    }
}

/// Runs `op` (the sink's own statements) within the store's operation timeout.
async fn timed<T>(
    store: &PostgresStore,
    projection: &str,
    op: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, SinkError> {
    let timeout = store.inner.settings.operation_timeout;
    match tokio::time::timeout(timeout, op).await {
        Ok(result) => result.map_err(|err| store_error(projection, PostgresError::from(err))),
        Err(_) => Err(store_error(projection, TimedOut(timeout))),
    }
}

/// A pooled connection, within the operation timeout.
async fn client(
    store: &PostgresStore,
    projection: &str,
) -> Result<deadpool_postgres::Client, SinkError> {
    let timeout = store.inner.settings.operation_timeout;
    match tokio::time::timeout(timeout, store.pool().get()).await {
        Ok(result) => result.map_err(|err| store_error(projection, PostgresError::from(err))),
        Err(_) => Err(store_error(projection, TimedOut(timeout))),
    }
}

fn store_error(
    projection: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> SinkError {
    SinkError::Store(FeedError::checkpoint(projection, source))
}

/// Runs a cached statement in the transaction.
async fn run(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.execute(&statement, params).await
}

#[async_trait]
impl<E: FeedItem, P: PostgresProjection<E>> ProjectionSink<E> for PostgresProjectionSink<P> {
    async fn checkpoint(&mut self, projection: &str) -> Result<Option<Position>, FeedError> {
        check_projection_name(projection)?;
        let rows = self
            .store
            .feed_query(
                &self.store.inner.statements.load_checkpoint,
                &[&projection],
                |e: Fault| FeedError::checkpoint(projection, e),
            )
            .await?;
        rows.first()
            .map(|row| decode_checkpoint(projection, row))
            .transpose()
    }

    async fn commit(
        &mut self,
        projection: &str,
        events: &[E],
        to: Position,
    ) -> Result<(), SinkError> {
        check_projection_name(projection)?;
        let statements = std::sync::Arc::clone(&self.store.inner.statements);
        let mut client = client(&self.store, projection).await?;
        let tx = timed(&self.store, projection, client.transaction()).await?;
        for event in events {
            if let Err(source) = self.projection.handle(&tx, event).await {
                // Dropping the transaction would roll it back too, in the background;
                // roll back now so the connection goes back to the pool clean.
                let _ = tx.rollback().await;
                return Err(SinkError::Handler {
                    position: event.position(),
                    source,
                });
            }
        }
        let text = to.to_string();
        timed(&self.store, projection, async {
            run(&tx, &statements.save_checkpoint, &[&projection, &text]).await?;
            tx.commit().await
        })
        .await
    }

    async fn skip_to(&mut self, projection: &str, to: Position) -> Result<(), SinkError> {
        check_projection_name(projection)?;
        let text = to.to_string();
        self.store
            .feed_query(
                &self.store.inner.statements.save_checkpoint,
                &[&projection, &text],
                |e: Fault| FeedError::checkpoint(projection, e),
            )
            .await?;
        Ok(())
    }

    async fn reset(&mut self, projection: &str) -> Result<(), SinkError> {
        check_projection_name(projection)?;
        let statements = std::sync::Arc::clone(&self.store.inner.statements);
        let mut client = client(&self.store, projection).await?;
        let tx = timed(&self.store, projection, client.transaction()).await?;
        if let Err(source) = self.projection.reset(&tx).await {
            let _ = tx.rollback().await;
            return Err(SinkError::Reset { source });
        }
        timed(&self.store, projection, async {
            run(&tx, &statements.delete_checkpoint, &[&projection]).await?;
            tx.commit().await
        })
        .await
    }
}
