//! WAL checkpoints, kept off the path of acknowledgements.
//!
//! SQLite's own `wal_autocheckpoint` runs the checkpoint inside the commit that crosses
//! the threshold, so every caller of that group commit waits for the WAL to be copied
//! into the main file and (at `synchronous = FULL`) for that file's `fsync`. Instead, the
//! writer connection only records the WAL's size after each commit (a WAL hook), and:
//!
//! - past the soft limit (the builder's `wal_autocheckpoint`), it wakes a checkpoint
//!   thread with its own connection, which runs a `PASSIVE` checkpoint beside the writer
//!   (copying committed pages does not block the writer or readers);
//! - past the hard limit (4 times the soft one), which only a checkpoint thread that
//!   cannot keep up lets the WAL reach, the writer runs a `PASSIVE` checkpoint itself
//!   between two group commits. The WAL can only restart from its beginning once a
//!   checkpoint has copied all of it, which a checkpoint beside a busy writer may never
//!   do; the writer's own finishes the little the checkpoint thread left.

use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use crate::writer::Counters;

thread_local! {
    /// Frames in the WAL after the last commit of the writer connection on this thread.
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
}

fn record_wal_frames(_wal: &Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|cell| cell.set(frames));
    Ok(())
}

/// The writer's side of checkpointing.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    wake: SyncSender<()>,
    soft: c_int,
    hard: c_int,
    counters: Arc<Counters>,
    /// WAL size when the checkpoint thread was last woken.
    last_wake: Cell<c_int>,
}

impl Checkpoints {
    /// Replaces SQLite's autocheckpoint on `writer` (which must then be used on the
    /// calling thread only, as the writer thread does) and starts the checkpoint thread
    /// on `conn`. `None` when `pages` is 0: no automatic checkpoints at all.
    pub(crate) fn start(
        writer: &Connection,
        conn: Connection,
        pages: u32,
        counters: Arc<Counters>,
    ) -> std::io::Result<Option<(Checkpoints, JoinHandle<()>)>> {
        if pages == 0 {
            writer.wal_hook(None);
            return Ok(None);
        }
        let soft = c_int::try_from(pages).unwrap_or(c_int::MAX);
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread_counters = Arc::clone(&counters);
        let handle = std::thread::Builder::new()
            .name("aether-sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    match checkpoint(&conn) {
                        Ok(()) => {
                            thread_counters.checkpoints.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "aether sqlite background checkpoint failed");
                        }
                    }
                }
            })?;
        Ok(Some((
            Checkpoints {
                wake,
                soft,
                hard: soft.saturating_mul(4),
                counters,
                last_wake: Cell::new(0),
            },
            handle,
        )))
    }

    /// Installs the WAL hook on the writer connection; call on the writer thread.
    pub(crate) fn install(writer: &Connection) {
        WAL_FRAMES.with(|cell| cell.set(0));
        writer.wal_hook(Some(record_wal_frames));
    }

    /// Called by the writer after each commit.
    pub(crate) fn after_commit(&self, writer: &Connection) {
        let frames = WAL_FRAMES.with(Cell::get);
        if frames < self.last_wake.get() {
            // The WAL restarted from its beginning.
            self.last_wake.set(0);
        }
        if frames >= self.hard {
            self.counters
                .writer_checkpoints
                .fetch_add(1, Ordering::Relaxed);
            if let Err(e) = checkpoint(writer) {
                tracing::warn!(error = %e, frames, "aether sqlite writer checkpoint failed");
            }
        } else if frames >= self.soft && frames - self.last_wake.get() >= self.soft / 2 {
            // Wake the thread once per half a limit of new frames, not after every
            // commit: each checkpoint costs an fsync of the main file.
            self.last_wake.set(frames);
            match self.wake.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {
                    // The checkpoint thread is gone; checkpoint here rather than let the
                    // WAL grow without bound.
                    let _ = checkpoint(writer);
                }
            }
        }
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
