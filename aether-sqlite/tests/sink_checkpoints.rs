//! An exactly-once sink copies its WAL back into the file (checkpoints) on a thread of
//! its own: the WAL stays bounded while a projection writes far more than it, even with
//! the store closed (no writer to do it).

use aether_core::{FeedEvent, HandlerError, Position, ProjectionSink};
use aether_sqlite::rusqlite::{params, Transaction};
use aether_sqlite::{SqliteProjection, SqliteStore};

/// Writes a wide row per event, so that a few thousand events fill many pages.
struct WideRows;

impl SqliteProjection for WideRows {
    fn handle(&mut self, tx: &Transaction<'_>, event: &FeedEvent) -> Result<(), HandlerError> {
        tx.execute(
            "INSERT INTO wide (seq, filler) VALUES (?1, ?2)",
            params![event.position.commit() as i64, "x".repeat(2_000)],
        )?;
        Ok(())
    }
}

fn event(seq: u64) -> FeedEvent {
    let mut event = aether_core::testkit::cases::event("Account|1", seq as i64);
    event.data = serde_json::json!({});
    FeedEvent {
        position: Position::new(seq, 0),
        event,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_checkpoints_its_wal_beside_its_commits() {
    const PAGES: u32 = 50;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::builder(&path)
        .wal_autocheckpoint(PAGES)
        .open()
        .await
        .expect("open");
    {
        let conn = aether_sqlite::rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE wide (seq INTEGER PRIMARY KEY, filler TEXT)")
            .expect("create");
    }
    let mut sink = store.exactly_once(WideRows);
    store.close().await.expect("close");

    // 4,000 rows of 2 KB: about 2,000 pages of 4 KiB, 40 times the checkpoint size.
    let (batches, per_batch) = (40u64, 100u64);
    for b in 0..batches {
        let events: Vec<FeedEvent> = (1..=per_batch).map(|i| event(b * per_batch + i)).collect();
        let to = events.last().expect("a batch").position;
        sink.commit("wide", &events, to).await.expect("commit");
    }
    let rows: i64 = aether_sqlite::rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("SELECT count(*) FROM wide", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, (batches * per_batch) as i64);

    // Without checkpoints the WAL would hold every page written (about 8.9 MB here). With
    // them it restarts once copied, at most the hard limit (4 times the checkpoint size)
    // and a batch in a quiet run; on a loaded machine a checkpoint may be busy when the
    // limit is crossed, so the bound is half of what was written: far above what
    // checkpoints leave, far below what their absence leaves.
    let wal = std::fs::metadata(dir.path().join("events.db-wal"))
        .expect("the WAL file")
        .len();
    let written = batches * per_batch * 2_000;
    assert!(
        wal <= written / 2,
        "the WAL grew to {wal} bytes, over half of the {written} written: the sink does \
         not checkpoint"
    );
}
