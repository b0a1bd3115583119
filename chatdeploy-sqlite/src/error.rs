//! Why a database could not be opened, and how SQLite errors become the
//! core traits' errors.

use std::path::PathBuf;

use chatdeploy_core::audit::AuditError;
use chatdeploy_core::state::StateError;

/// A boxed underlying error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why [`SqliteStateStore::open`](crate::SqliteStateStore::open) (or
/// [`SqliteAuditSink::open`](crate::SqliteAuditSink::open)) refused a
/// database file.
///
/// Every variant names the file and says what to do. Opening never resets,
/// truncates or deletes an existing file: a file that is refused is left
/// exactly as it was, for a person to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenStateError {
    /// The directory that should hold the file does not exist.
    #[error(
        "cannot create the state database {path}: its directory does not exist; \
         create the directory or point --state elsewhere"
    )]
    MissingDirectory {
        /// The database file.
        path: PathBuf,
    },
    /// Another process (another bot, or a second replica) has the database
    /// open: SQLite keeps the state of exactly one process.
    #[error(
        "{path} is in use by another chatdeploy process: SQLite keeps the state of one bot \
         process only; stop the other one, or run several replicas on PostgreSQL \
         (--state postgres://…)"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// A database opened for reading does not exist.
    #[error("there is no state database at {path} to read")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The path exists but is not a regular file (e.g. a directory).
    #[error(
        "{path} is not a file, so it cannot be the state database; \
         point --state at a file"
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions).
    #[error(
        "cannot read the state database {path} ({source}); fix its permissions \
         (the bot needs read and write access) or point --state elsewhere"
    )]
    Unreadable {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file, or the directory it is in, cannot be written. SQLite
    /// needs to write the file and to create `<file>-wal` and `<file>-shm`
    /// beside it.
    #[error(
        "the state database {path} is read-only ({detail}); the bot must be able to \
         write the file and create {path}-wal and {path}-shm in its directory: fix the \
         permissions or point --state elsewhere"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What was read-only.
        detail: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The file is not an SQLite database at all.
    #[error(
        "{path} is not a chatdeploy state database (file is not a database); \
         nothing was changed: move it away or point --state elsewhere"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: BoxError,
    },
    /// The file is an SQLite database but damaged (e.g. truncated).
    #[error(
        "the state database {path} is corrupt ({detail}); nothing was changed: \
         keep it for inspection, move it away and restore a backup, or point --state elsewhere"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
        /// The SQLite error, if one was raised.
        #[source]
        source: Option<BoxError>,
    },
    /// The file is an SQLite database that belongs to something else.
    #[error(
        "{path} is an SQLite database but not a chatdeploy state database ({detail}); \
         nothing was changed: point --state at another file"
    )]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
        /// Why it does not look like ours.
        detail: String,
    },
    /// The file was written by a newer chatdeploy with a newer schema.
    #[error(
        "the state database {path} has schema version {found}, newer than the {supported} \
         this chatdeploy understands; it is not downgraded: run a newer chatdeploy \
         or point --state elsewhere"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Any other SQLite failure while opening or migrating.
    #[error("cannot open the state database {path}: {message}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
        /// The SQLite error.
        #[source]
        source: BoxError,
    },
}

impl OpenStateError {
    /// The database file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::MissingDirectory { path }
            | Self::InUse { path }
            | Self::Missing { path }
            | Self::NotAFile { path }
            | Self::Unreadable { path, .. }
            | Self::ReadOnly { path, .. }
            | Self::NotADatabase { path, .. }
            | Self::Corrupt { path, .. }
            | Self::ForeignDatabase { path, .. }
            | Self::TooNew { path, .. }
            | Self::Sqlite { path, .. } => path,
        }
    }
}

/// Whether an SQLite error means "someone else holds the lock, try again".
pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// An SQLite (or task) failure during a state operation.
pub(crate) fn state_unavailable(what: &str, path: &str, source: impl Into<BoxError>) -> StateError {
    let source = source.into();
    StateError::Unavailable {
        message: format!("{what} in the state database {path} failed: {source}"),
        source: Some(source),
    }
}

/// An SQLite (or task) failure while writing or reading audit records.
pub(crate) fn audit_unavailable(path: &str, source: impl std::fmt::Display) -> AuditError {
    AuditError::Unavailable {
        sink: format!("sqlite audit {path}"),
        message: source.to_string(),
    }
}

/// A record in the database that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {key} cannot be decoded: {source}")]
pub(crate) struct DecodeError {
    pub(crate) what: &'static str,
    pub(crate) key: String,
    #[source]
    pub(crate) source: serde_json::Error,
}

/// Failures inside one database operation, before they are mapped to the
/// caller's error type.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("cannot encode the record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("stored value out of range: {0}")]
    Range(String),
    #[error("the database stayed locked by another connection for {0:?}")]
    Busy(std::time::Duration),
    #[error("the database worker task failed: {0}")]
    Task(String),
}

impl OpError {
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, Self::Sqlite(e) if is_busy(e))
    }
}
