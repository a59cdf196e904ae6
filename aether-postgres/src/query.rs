//! Running the store's prepared statements on pooled connections.

use deadpool_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

/// Runs `sql` as a statement prepared once per connection (deadpool's statement cache).
///
/// When the server says the cached plan no longer fits (the tables were altered since it
/// was prepared, by a migration for instance), the statement is prepared afresh and run
/// once more, so a store keeps working across schema changes.
pub(crate) async fn query_cached(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Error> {
    let statement = client.prepare_cached(sql).await?;
    match client.query(&statement, params).await {
        Err(err) if is_stale_plan(&err) => {
            client.statement_cache.remove(sql, &[]);
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        }
        result => result,
    }
}

fn is_stale_plan(err: &Error) -> bool {
    err.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED)
        && err
            .as_db_error()
            .is_some_and(|db| db.message().contains("cached plan"))
}
