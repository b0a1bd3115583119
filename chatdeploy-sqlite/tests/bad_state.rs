#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! A file that is not a sound chatdeploy database stops `open` with a clear
//! error naming the file, and is left exactly as it was.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chatdeploy_core::state::{StateStore, contract};
use chatdeploy_sqlite::{OpenStateError, SqliteAuditSink, SqliteStateStore};

/// Opens `path`, expecting a refusal, and checks that neither the file nor
/// its directory changed.
fn refuse(path: &Path) -> OpenStateError {
    let dir = path.parent().unwrap();
    let before = std::fs::read(path).ok();
    let files = common::listing(dir);
    let error = SqliteStateStore::open(path).expect_err("the file must be refused");
    assert_eq!(std::fs::read(path).ok(), before, "the file changed");
    assert_eq!(common::listing(dir), files, "files appeared or vanished");
    let message = error.to_string();
    println!("refused: {message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(error.path(), path);
    // The audit sink refuses it the same way.
    let again = SqliteAuditSink::open(path).expect_err("the file must be refused");
    assert_eq!(again.to_string(), message);
    assert_eq!(std::fs::read(path).ok(), before, "the file changed");
    error
}

/// A chatdeploy database with enough rows for several pages.
async fn filled_database(dir: &Path) -> PathBuf {
    let path = dir.join("chatdeploy.db");
    let store = SqliteStateStore::open(&path).unwrap();
    for i in 0..200 {
        let mut record = contract::sample_deployment(&format!("d-{i:04}"), "app", i);
        record.failure = Some("x".repeat(200));
        store.create_deployment(&record).await.unwrap();
    }
    drop(store);
    assert_eq!(
        common::listing(dir),
        ["chatdeploy.db"],
        "WAL checkpointed on close"
    );
    path
}

#[test]
fn random_bytes_are_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let mut seed: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let error = refuse(&path);
    assert!(
        matches!(error, OpenStateError::NotADatabase { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("is not a chatdeploy state database (file is not a database)"),
        "{message}"
    );
    assert!(
        message.contains("move it away or point --state elsewhere"),
        "{message}"
    );
    assert!(std::error::Error::source(&error).is_some());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_text_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    std::fs::write(&path, "deploy_channels = [\"C01\"]\n".repeat(20)).unwrap();
    let error = refuse(&path);
    assert!(
        matches!(error, OpenStateError::NotADatabase { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_truncated_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2 + 100).unwrap();
    drop(file);
    let error = refuse(&path);
    assert!(matches!(error, OpenStateError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("is corrupt"), "{error}");
}

#[tokio::test]
async fn a_database_cut_inside_its_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(60).unwrap();
    drop(file);
    let error = refuse(&path);
    assert!(
        matches!(
            error,
            OpenStateError::NotADatabase { .. } | OpenStateError::Corrupt { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_damaged_page_is_found_by_the_check_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 6 * page);
    // Scribble over the middle of the file's third page (a b-tree page).
    for (i, b) in bytes[2 * page..3 * page].iter_mut().enumerate() {
        *b = u8::try_from(i % 251).unwrap();
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = refuse(&path);
    assert!(matches!(error, OpenStateError::Corrupt { .. }), "{error:?}");
}

#[test]
fn another_programs_database_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');")
        .unwrap();
    drop(conn);
    let error = refuse(&path);
    assert!(
        matches!(error, OpenStateError::ForeignDatabase { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("not a chatdeploy state database"),
        "{error}"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_chatdeploy_is_not_downgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    drop(SqliteStateStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let error = refuse(&path);
    match &error {
        OpenStateError::TooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, 99);
            assert_eq!(*supported, chatdeploy_sqlite::schema_version());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error.to_string().contains("run a newer chatdeploy"),
        "{error}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn a_missing_directory_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("chatdeploy.db");
    let error = SqliteStateStore::open(&path).unwrap_err();
    assert!(
        matches!(error, OpenStateError::MissingDirectory { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("directory does not exist"),
        "{error}"
    );
    assert!(!dir.path().join("nowhere").exists());
}

#[test]
fn a_directory_is_not_a_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    std::fs::create_dir(&path).unwrap();
    let error = SqliteStateStore::open(&path).unwrap_err();
    assert!(
        matches!(error, OpenStateError::NotAFile { .. }),
        "{error:?}"
    );
    assert!(path.is_dir());
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    std::fs::write(&path, b"").unwrap();
    SqliteStateStore::open(&path).unwrap();
}

/// Runs `check` unless permissions do not bite (root).
fn unless_root(dir: &Path, case: &str, check: impl FnOnce()) {
    if common::running_as_root(dir) {
        println!("note: skipping '{case}': running as root, where file permissions do not apply");
        return;
    }
    check();
}

#[tokio::test]
async fn an_unreadable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    unless_root(dir.path(), "unreadable file", || {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let error = SqliteStateStore::open(&path).unwrap_err();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        println!("refused: {error}");
        assert!(
            matches!(error, OpenStateError::Unreadable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("fix its permissions"), "{error}");
        assert_eq!(common::listing(dir.path()), ["chatdeploy.db"]);
    });
}

#[tokio::test]
async fn a_read_only_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let before = std::fs::read(&path).unwrap();
    unless_root(dir.path(), "read-only file", || {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let error = SqliteStateStore::open(&path).unwrap_err();
        println!("refused: {error}");
        assert!(
            matches!(error, OpenStateError::ReadOnly { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("read-only"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
}

#[tokio::test]
async fn a_read_only_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let before = std::fs::read(&path).unwrap();
    unless_root(dir.path(), "read-only directory", || {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        let existing = SqliteStateStore::open(&path).unwrap_err();
        let new = SqliteStateStore::open(dir.path().join("new.db")).unwrap_err();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        println!("refused: {existing}\nrefused: {new}");
        assert!(
            matches!(existing, OpenStateError::ReadOnly { .. }),
            "{existing:?}"
        );
        assert!(matches!(new, OpenStateError::ReadOnly { .. }), "{new:?}");
        assert!(existing.to_string().contains("-wal"), "{existing}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(common::listing(dir.path()), ["chatdeploy.db"]);
    });
}

#[tokio::test]
async fn a_refused_open_leaves_a_good_database_usable() {
    // After a refusal for a reason outside the file (newer schema), putting
    // things right makes the same file usable with its data.
    let dir = tempfile::tempdir().unwrap();
    let path = filled_database(dir.path()).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 42).unwrap();
    refuse(&path);
    conn.pragma_update(None, "user_version", chatdeploy_sqlite::schema_version())
        .unwrap();
    drop(conn);
    let store = SqliteStateStore::open(&path).unwrap();
    assert_eq!(store.in_flight().await.unwrap().len(), 200);
}
