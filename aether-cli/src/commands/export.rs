//! `aether export`: every event as one JSON line (the seed's wire format,
//! `serde_json::to_string(&Event)`), in feed order, with a progress bar on a terminal.

use std::io::Write;
use std::process::ExitCode;

use aether::feed::{EventFeed, Position};
use aether::AnyStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CliError;
use crate::scan::{Item, Scanner};

pub(crate) async fn run(
    store: &AnyStore,
    actor_type: Option<String>,
) -> Result<ExitCode, CliError> {
    // The bar counts every event of the feed (a filter's share is not known up front);
    // it draws only when stderr is a terminal.
    let total = store.feed_lag(Position::START).await?;
    let bar = progress(total, "exporting");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut scan = Scanner::new(store.feed(), super::filter(actor_type, None)).await?;
    let mut bad = 0u64;
    let mut written = 0u64;
    while let Some(item) = scan.next().await? {
        match item {
            Item::Event(feed_event) => {
                serde_json::to_writer(&mut out, &feed_event.event)?;
                out.write_all(b"\n")?;
                written += 1;
                bar.inc(1);
            }
            Item::Bad {
                position,
                actor_id,
                version,
                reason,
            } => {
                bad += 1;
                bar.suspend(|| {
                    eprintln!(
                        "aether: error: not exported: the row at feed position {position} \
                         (actor {actor_id:?}, version {version}) does not decode: {reason}"
                    )
                });
            }
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    eprintln!("exported {written} events");
    if bad > 0 {
        eprintln!("aether: error: {bad} rows could not be exported (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress(total: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} events ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what);
    bar
}
