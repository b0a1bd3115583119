//! The versioned schema: checks made before anything is written, and the
//! forward-only migrations.
//!
//! The version lives in `PRAGMA user_version`; `PRAGMA application_id`
//! marks the file as chatdeploy's. Migration `n` (1-based) takes the schema
//! from version `n - 1` to `n`; a file with a version newer than this
//! build's is refused, never downgraded.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::error::OpenStateError;

/// `PRAGMA application_id` of a chatdeploy database: "cdpl".
pub(crate) const APPLICATION_ID: i32 = 0x6364_706c;

/// The migrations, in order. Append only; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: state (events, locks, deployments, history) and the audit log.
    r"
    CREATE TABLE events (
        id         TEXT PRIMARY KEY NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX events_by_expiry ON events (expires_at);

    CREATE TABLE locks (
        service TEXT PRIMARY KEY NOT NULL,
        since   INTEGER NOT NULL,
        record  TEXT NOT NULL
    );

    CREATE TABLE deployments (
        id           TEXT PRIMARY KEY NOT NULL,
        service      TEXT NOT NULL,
        finalized    INTEGER NOT NULL CHECK (finalized IN (0, 1)),
        requested_at INTEGER NOT NULL,
        revision     INTEGER NOT NULL CHECK (revision >= 0),
        record       TEXT NOT NULL
    );
    CREATE INDEX deployments_in_flight ON deployments (requested_at, id) WHERE finalized = 0;
    CREATE INDEX deployments_by_service ON deployments (service);

    CREATE TABLE history (
        deployment TEXT PRIMARY KEY NOT NULL,
        service    TEXT NOT NULL,
        ended_at   INTEGER NOT NULL,
        record     TEXT NOT NULL
    );
    CREATE INDEX history_by_service ON history (service, ended_at);

    CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        at         TEXT NOT NULL,
        action     TEXT NOT NULL,
        deployment TEXT,
        record     TEXT NOT NULL
    );
    CREATE INDEX audit_by_deployment ON audit (deployment, seq) WHERE deployment IS NOT NULL;
    ",
    // 2: leases (which process acts on a release; one, with SQLite).
    r"
    CREATE TABLE leases (
        deployment TEXT PRIMARY KEY NOT NULL,
        owner      TEXT,
        fence      INTEGER NOT NULL CHECK (fence >= 0),
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Maps an SQLite error met while opening `path` to what a person must do.
pub(crate) fn classify(path: &Path, error: rusqlite::Error) -> OpenStateError {
    let path = path.to_path_buf();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => OpenStateError::NotADatabase {
            path,
            source: Box::new(error),
        },
        Some(ErrorCode::DatabaseCorrupt) => OpenStateError::Corrupt {
            path,
            detail: error.to_string(),
            source: Some(Box::new(error)),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            OpenStateError::ReadOnly {
                path,
                detail: format!("SQLite: {error}"),
                source: Some(Box::new(error)),
            }
        }
        _ => OpenStateError::Sqlite {
            path,
            message: error.to_string(),
            source: Box::new(error),
        },
    }
}

/// Checks, by reading only, that the file is empty or a sound chatdeploy
/// database this build understands.
///
/// All reads happen in one read transaction, so they see one snapshot of
/// the file. Read one by one (each its own autocommit statement), another
/// process opening the same new file could commit its migration between
/// them: this one would then see version 0 but the new tables, and refuse
/// the file as foreign.
pub(crate) fn validate(conn: &Connection, path: &Path) -> Result<(), OpenStateError> {
    // Deferred: takes only a read lock, at the first read; rolled back
    // (which releases it) when dropped, on every return path.
    let snapshot = conn
        .unchecked_transaction()
        .map_err(|e| classify(path, e))?;
    let read = |sql: &str| -> Result<i64, OpenStateError> {
        snapshot
            .query_row(sql, [], |row| row.get(0))
            .map_err(|e| classify(path, e))
    };
    let version = read("PRAGMA user_version")?;
    let application_id = read("PRAGMA application_id")?;
    let objects = read("SELECT count(*) FROM sqlite_schema")?;
    let foreign = |detail: String| OpenStateError::ForeignDatabase {
        path: path.to_path_buf(),
        detail,
    };
    if application_id != 0 && application_id != i64::from(APPLICATION_ID) {
        return Err(foreign(format!(
            "its application id is {application_id:#x}"
        )));
    }
    if version == 0 && objects > 0 {
        return Err(foreign(
            "it has tables of its own and no chatdeploy schema version".into(),
        ));
    }
    if version > 0 && application_id == 0 {
        return Err(foreign(format!(
            "it has schema version {version} but no chatdeploy application id"
        )));
    }
    if version > latest_version() {
        return Err(OpenStateError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: latest_version(),
        });
    }
    if objects > 0 {
        quick_check(&snapshot, path)?;
    }
    Ok(())
}

/// `PRAGMA quick_check`: structure of every page, without the index
/// cross-check of `integrity_check`.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), OpenStateError> {
    let mut statement = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| classify(path, e))?;
    let findings = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| classify(path, e))?;
    if findings == ["ok"] {
        Ok(())
    } else {
        Err(OpenStateError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "quick_check: {}",
                findings
                    .iter()
                    .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            source: None,
        })
    }
}

/// Brings the schema up to [`latest_version`] in one immediate
/// transaction, re-reading the version inside it so that two processes
/// opening the same new file do not both migrate. Returns the version found
/// before migrating (newer than [`latest_version`] if another process
/// upgraded the file meanwhile; then nothing is changed).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version >= latest_version() {
        return Ok(version);
    }
    let from = usize::try_from(version).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(from) {
        tracing::info!(path = %path.display(), to = index + 1, "migrating the state database");
        tx.execute_batch(migration)?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
        latest_version()
    ))?;
    tx.commit()?;
    Ok(version)
}
