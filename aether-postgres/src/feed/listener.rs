//! The store's feed state ([`FeedState`]) and the listener that turns `NOTIFY`s of the
//! feed's channel into wake-ups of waiting readers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PostgresError;

/// What a store keeps for its feed readers.
pub(crate) struct FeedState {
    /// Bumped by this process's writers after each commit that inserted events, and by
    /// the listener on each notification (and after each reconnect).
    pub(crate) wake: Arc<watch::Sender<u64>>,
    /// The schema's NOTIFY channel.
    pub(crate) channel: String,
    /// The payload of this store's notifications: the listener skips them, since the
    /// writers already woke this store's readers.
    pub(crate) origin: String,
    /// How long a waiting reader waits at most.
    pub(crate) poll_interval: Duration,
    /// How long a read waits at most for held-back events.
    pub(crate) read_wait: Duration,
    /// Where the listener connects; `None` for a store built from a pool, whose
    /// connection settings are the pool's secret (readers then rely on local wake-ups and
    /// the poll interval).
    pub(crate) listen_config: Option<ListenTarget>,
    /// Set when the listener has started; dropping it (with the store) stops the listener.
    listener: OnceLock<oneshot::Sender<()>>,
}

impl fmt::Debug for FeedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedState")
            .field("channel", &self.channel)
            .field("poll_interval", &self.poll_interval)
            .field("read_wait", &self.read_wait)
            .field("listening", &self.listener.get().is_some())
            .finish()
    }
}

impl FeedState {
    pub(crate) fn new(
        channel: String,
        poll_interval: Duration,
        read_wait: Duration,
        listen_config: Option<ListenTarget>,
    ) -> Self {
        FeedState {
            wake: Arc::new(watch::Sender::new(0)),
            channel,
            origin: new_origin(),
            poll_interval,
            read_wait,
            listen_config,
            listener: OnceLock::new(),
        }
    }

    /// Starts the listener task, once, if the store knows where to connect.
    pub(super) fn start_listener(&self) {
        let Some(config) = &self.listen_config else {
            return;
        };
        self.listener.get_or_init(|| {
            let (stop_tx, stop_rx) = oneshot::channel();
            tokio::spawn(run_listener(
                config.clone(),
                self.channel.clone(),
                self.origin.clone(),
                Arc::clone(&self.wake),
                stop_rx,
            ));
            stop_tx
        });
    }
}

/// Where and how the listener connects: the store's driver configuration and its TLS
/// connector.
pub(crate) type ListenTarget = (tokio_postgres::Config, MakeRustlsConnect);

/// A payload no other store (of this process or another) uses: the process id, the time
/// and a counter.
fn new_origin() -> String {
    static STORES: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = STORES.fetch_add(1, Ordering::Relaxed);
    format!("{:x}.{nanos:x}.{n:x}", std::process::id())
}

fn bump(n: &mut u64) {
    *n = n.wrapping_add(1);
}

/// Listens on the channel until `stop` is dropped, reconnecting (with a growing delay, up
/// to 5 s) whenever the connection ends. Readers are woken after each (re)connect, since
/// notifications sent meanwhile are lost.
async fn run_listener(
    config: ListenTarget,
    channel: String,
    origin: String,
    wake: Arc<watch::Sender<u64>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        let mut listening = false;
        let session = listen(&config, &channel, &origin, &wake, &mut listening);
        tokio::select! {
            _ = &mut stop => return,
            ended = session => match ended {
                Ok(()) => tracing::debug!(channel, "the feed listener's connection closed; reconnecting"),
                Err(err) => tracing::warn!(channel, error = %err, "the feed listener lost its connection; reconnecting"),
            },
        }
        if listening {
            delay = Duration::from_millis(100);
        }
        wake.send_modify(bump);
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// One listening session: connects, `LISTEN`s, and bumps `wake` on every notification
/// but this store's own (payload `origin`) until the connection ends.
async fn listen(
    (config, tls): &ListenTarget,
    channel: &str,
    origin: &str,
    wake: &watch::Sender<u64>,
    listening: &mut bool,
) -> Result<(), PostgresError> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let drive = async {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(note) = message? {
                if note.payload() != origin {
                    wake.send_modify(bump);
                }
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    };
    let subscribe = async {
        let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
        client.batch_execute(&format!("LISTEN {quoted}")).await?;
        *listening = true;
        // Events stored while no listener was connected sent notifications nobody got.
        wake.send_modify(bump);
        // Keep the client (and so the session) until the connection ends.
        std::future::pending::<Result<(), tokio_postgres::Error>>().await
    };
    tokio::select! {
        ended = drive => ended?,
        failed = subscribe => failed?,
    }
    Ok(())
}
