//! One module per command; [`open`] opens the store they share.

pub(crate) mod actors;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod verify;

use aether::AnyStore;

use crate::error::CliError;

/// Opens the store at `url`. A SQLite file must exist unless `creates` (import): a typo
/// in a path would otherwise make an empty store and show nothing.
pub(crate) async fn open(url: &str, creates: bool) -> Result<AnyStore, CliError> {
    if let Some(path) = sqlite_path(url) {
        if !creates {
            if !std::path::Path::new(path).exists() {
                return Err(CliError::NoSuchFile(path.to_owned()));
            }
            check_sqlite_file(path)?;
        }
    }
    Ok(aether::connect(url).await?)
}

/// Refuses, before the store opens it, an SQLite database that is not aether's: opening
/// an empty-looking database as a store would write aether's tables into it.
#[cfg(feature = "sqlite")]
fn check_sqlite_file(path: &str) -> Result<(), CliError> {
    use aether::sqlite::rusqlite::{Connection, OpenFlags};
    /// `PRAGMA application_id` of aether's files: "AETH".
    const AETHER: i64 = 0x4145_5448;
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(conn) => conn,
        // Let the store say what is wrong with it.
        Err(_) => return Ok(()),
    };
    match conn.query_row("PRAGMA application_id", [], |row| row.get::<_, i64>(0)) {
        Ok(AETHER) | Err(_) => Ok(()),
        Ok(other) => Err(CliError::NotAether {
            path: path.to_owned(),
            reason: format!("its application_id is {other:#x}, not aether's {AETHER:#x}"),
        }),
    }
}

#[cfg(not(feature = "sqlite"))]
fn check_sqlite_file(_: &str) -> Result<(), CliError> {
    Ok(())
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.trim().strip_prefix("sqlite:")?;
    Some(rest.strip_prefix("//").unwrap_or(rest))
}

/// The feed filter of `--type` and `--event-type`.
pub(crate) fn filter(
    actor_type: Option<String>,
    event_type: Option<String>,
) -> aether::feed::FeedFilter {
    let mut filter = aether::feed::FeedFilter::all();
    if let Some(actor_type) = actor_type {
        filter = filter.actor_type(actor_type);
    }
    if let Some(event_type) = event_type {
        filter = filter.event_type(event_type);
    }
    filter
}
