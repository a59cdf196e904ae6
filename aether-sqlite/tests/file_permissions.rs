//! The store file and its `-wal` / `-shm` are private to their owner when the store creates
//! them (#17); an existing file others may write is opened, with a `warn!`.
#![cfg(unix)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, OnceLock};

use aether_core::{Event, EventStore};
use aether_sqlite::SqliteStore;

/// Everything logged in this test process.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file")
        .permissions()
        .mode()
        & 0o777
}

fn event() -> Event {
    Event {
        id: "e1".into(),
        event_type: "Tested".into(),
        actor_id: "a".into(),
        command_id: None,
        version: 1,
        data: serde_json::json!({}),
        timestamp: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn a_new_store_file_and_its_wal_and_shm_are_owner_only() {
    let _ = logs();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .save_event(&event())
        .await
        .expect("a write makes the WAL");
    for file in ["events.db", "events.db-wal", "events.db-shm"] {
        let file = dir.path().join(file);
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn an_existing_file_others_may_write_opens_with_a_warning() {
    let logs = logs();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("shared.db");
    std::fs::File::create(&path).expect("an empty file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let store = SqliteStore::open(&path).await.expect("opened anyway");
    store.save_event(&event()).await.expect("usable");
    assert_eq!(mode(&path), 0o666, "an existing file's mode is left alone");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("writable by other users") && l.contains("shared.db"))
        .unwrap_or_else(|| panic!("no warning in:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("666"), "{line}");
}
