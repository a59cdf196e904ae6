//! The sending side of the feed's wake-ups: a `NOTIFY` on the schema's channel after the
//! commits that inserted events, sent outside the appending transactions.
//!
//! A `NOTIFY` made inside a transaction makes PostgreSQL take one lock for the whole
//! cluster when the transaction commits, and hold it until the commit is flushed to disk:
//! every notifying transaction then commits after the other, one flush each, where
//! transactions without a `NOTIFY` share flushes. So the writers do not notify in their
//! statement: after a commit they signal the notifier, which sends `SELECT pg_notify(..)`
//! on a pooled connection. Commits signalled while one is being sent share the next one.
//!
//! Readers of this process are woken by the writers directly; the notification is for the
//! other processes. If it is lost (this process stops between a commit and its
//! notification, or the server is unreachable), those readers see the events after their
//! poll interval.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;

use crate::query::query_cached;

/// The statement the notifier sends: the channel, and the store's origin as the payload
/// (its own listener skips it).
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Signals the notifier task; dropping it (with the writers) stops the task.
#[derive(Debug)]
pub(crate) struct Notifier {
    signal: watch::Sender<u64>,
}

impl Notifier {
    /// Starts the notifier task on the current tokio runtime.
    pub(crate) fn spawn(
        pool: Pool,
        channel: String,
        origin: String,
        timeout: Duration,
    ) -> Arc<Self> {
        let (signal, signalled) = watch::channel(0);
        tokio::spawn(run(pool, channel, origin, timeout, signalled));
        Arc::new(Notifier { signal })
    }

    /// Asks for a notification: events were committed.
    pub(crate) fn notify(&self) {
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

async fn run(
    pool: Pool,
    channel: String,
    origin: String,
    timeout: Duration,
    mut signalled: watch::Receiver<u64>,
) {
    while signalled.changed().await.is_ok() {
        signalled.borrow_and_update();
        let send = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            query_cached(&client, NOTIFY, &[&channel, &origin])
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::debug!(channel, error = %err, "cannot notify the feed's listeners; they poll")
            }
            Err(_) => tracing::debug!(
                channel,
                "notifying the feed's listeners timed out; they poll"
            ),
        }
    }
}
