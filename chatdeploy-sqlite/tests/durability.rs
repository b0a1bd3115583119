#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! What was written is there after a reopen, and after the writing process
//! was killed with SIGKILL; the schema is migrated forward; expired event
//! IDs are swept.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink};
use chatdeploy_core::ids::{DeploymentId, EventId};
use chatdeploy_core::state::{
    LockAttempt, LockHolder, ReleaseRecord, ServiceLock, Stage, StateStore, contract,
};
use chatdeploy_sqlite::{SqliteAuditSink, SqliteStateStore};
use chrono::{Duration, Utc};

const CHILD_ENV: &str = "CHATDEPLOY_SQLITE_TEST_CHILD_DB";

fn manual_lock() -> ServiceLock {
    ServiceLock {
        service: "app".into(),
        holder: LockHolder::Manual {
            by: "U02".into(),
            reason: Some("freeze".into()),
        },
        since: Utc::now(),
    }
}

/// Writes one of everything.
async fn write_everything(store: &SqliteStateStore) {
    let later = Utc::now() + Duration::hours(1);
    assert!(
        store
            .remember_event(&EventId::new("Ev-durable"), later)
            .await
            .unwrap()
    );
    assert_eq!(
        store.try_lock(&manual_lock()).await.unwrap(),
        LockAttempt::Acquired
    );
    let mut record = contract::sample_deployment("d-durable", "app", 0);
    store.create_deployment(&record).await.unwrap();
    record.stage = Stage::Running;
    let record = store.update_deployment(&record).await.unwrap();
    let mut finished = contract::sample_deployment("d-finished", "app", 0);
    finished.stage = Stage::Succeeded;
    store
        .append_history(&ReleaseRecord::from_finished(&finished, Utc::now()))
        .await
        .unwrap();
    let mut event =
        AuditEvent::new(AuditAction::Started, Some("U01".into())).with_id("d-durable:started");
    event.deployment = Some(record.id.clone());
    store.audit_sink().record(&event).await.unwrap();
}

/// Checks that everything [`write_everything`] wrote is there.
async fn check_everything(store: &SqliteStateStore) {
    let later = Utc::now() + Duration::hours(1);
    assert!(
        !store
            .remember_event(&EventId::new("Ev-durable"), later)
            .await
            .unwrap(),
        "the event ID was forgotten"
    );
    let lock = store.lock("app").await.unwrap().unwrap();
    assert_eq!(lock.holder, manual_lock().holder);
    let record = store
        .deployment(&DeploymentId::new("d-durable"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.stage, record.revision), (Stage::Running, 1));
    assert_eq!(store.in_flight().await.unwrap(), [record]);
    let history = store.history("app", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].deployment, DeploymentId::new("d-finished"));
    let audit = store.audit_sink().events().await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].id, "d-durable:started");
}

#[tokio::test]
async fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let store = SqliteStateStore::open(&path).unwrap();
    write_everything(&store).await;
    drop(store);
    let store = SqliteStateStore::open(&path).unwrap();
    check_everything(&store).await;
    drop(store);
    let sink = SqliteAuditSink::open(&path).unwrap();
    assert_eq!(sink.events().await.unwrap().len(), 1);
}

/// Not a test of its own: the child process of the SIGKILL test. Writes
/// everything, says so, and waits to be killed.
#[tokio::test]
async fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStateStore::open(path).unwrap();
    write_everything(&store).await;
    println!("WRITTEN");
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    panic!("the child was not killed");
}

#[tokio::test]
async fn everything_survives_the_writer_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let written = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("WRITTEN"));
    assert!(written, "the child did not write");
    child.kill().unwrap(); // SIGKILL: no destructors, no checkpoint
    child.wait().unwrap();
    // The commits are in the WAL, not yet in the main file.
    assert!(common::listing(dir.path()).contains(&"chatdeploy.db-wal".to_owned()));
    let store = SqliteStateStore::open(&path).unwrap();
    check_everything(&store).await;
}

#[tokio::test]
async fn a_new_file_gets_the_latest_schema_and_an_old_empty_one_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    // A version-0 database: SQLite file, no tables (e.g. left by an
    // interrupted first start).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA user_version = 0;")
        .unwrap();
    drop(conn);
    let store = SqliteStateStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, chatdeploy_sqlite::schema_version());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    contract::run_all(&store).await;
}

/// Several opens of a new file at once: each either owns it (and finds it
/// migrated once, never half) or is told another process has it.
#[test]
fn stores_opening_a_new_file_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStateStore::open(path).map(drop))
        })
        .collect();
    let mut opened = 0;
    for thread in threads {
        match thread.join().unwrap() {
            Ok(()) => opened += 1,
            Err(chatdeploy_sqlite::OpenStateError::InUse { .. }) => {}
            Err(e) => panic!("opening a new file at once failed: {e} ({e:?})"),
        }
    }
    assert!(opened >= 1);
    SqliteStateStore::open(&path).unwrap();
}

fn event_rows(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn expired_event_ids_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let store = SqliteStateStore::open(&path).unwrap();
    let past = Utc::now() - Duration::seconds(1);
    let later = Utc::now() + Duration::hours(1);
    for i in 0..1000 {
        assert!(
            store
                .remember_event(&EventId::new(format!("Ev-old-{i}")), past)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .remember_event(&EventId::new("Ev-live"), later)
            .await
            .unwrap()
    );
    // Swept on their own every few hundred inserts.
    let rows = event_rows(&path);
    assert!(rows < 500, "{rows} rows left");
    let swept = store.sweep_expired_events().await.unwrap();
    assert_eq!(event_rows(&path), 1, "swept {swept}");
    assert!(
        !store
            .remember_event(&EventId::new("Ev-live"), later)
            .await
            .unwrap()
    );
}
