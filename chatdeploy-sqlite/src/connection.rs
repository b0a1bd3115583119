//! One database file: opening and checking it, its connections, and
//! running operations off the async workers with retries on `SQLITE_BUSY`.
//!
//! Writes go through one connection per [`Database`] (behind a mutex, so
//! writers of one process queue without busy-waiting) in `BEGIN IMMEDIATE`
//! transactions, which take SQLite's write lock up front and so serialise
//! with writers of other processes sharing the file. Reads use a small pool
//! of further connections; in WAL mode they run beside the writer.
//!
//! Operations run on at most [`MAX_THREADS`] blocking threads per
//! database at a time; the rest wait their turn as futures, not threads.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::error::{OpError, OpenStateError};
use crate::schema;

/// How long SQLite itself waits for a lock before reporting busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation is retried on busy before it gives up.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// Idle read connections kept per database.
const MAX_IDLE_READERS: usize = 4;
/// Operations running at once per database, each on a blocking thread.
/// SQLite writes one at a time, so more threads would only queue on the
/// writer's lock, each a thread (a burst of events once took the process
/// to 500 threads); as many as idle readers, so reads never open (and
/// close) more connections than the pool keeps.
const MAX_THREADS: usize = MAX_IDLE_READERS;

/// An open, checked, migrated database.
#[derive(Debug)]
pub(crate) struct Database {
    /// The file (`:memory:` for an in-memory database).
    path: PathBuf,
    /// The path as shown in messages.
    label: String,
    writer: Mutex<Connection>,
    /// `None` for an in-memory database, whose reads use the writer.
    readers: Option<Mutex<Vec<Connection>>>,
    /// Inserts counted for the periodic sweep of expired rows.
    pub(crate) inserts: AtomicU64,
    /// Room for [`MAX_THREADS`] operations at once.
    threads: Arc<Semaphore>,
    /// The file, locked (`flock`) while this database is open for writing:
    /// one process at a time keeps its state here.
    _owner: Option<File>,
}

impl Database {
    /// Opens (or creates) the file at `path`, checks it and migrates it.
    pub(crate) fn open(path: &Path) -> Result<Self, OpenStateError> {
        let path = path.to_path_buf();
        let created = precheck(&path)?;
        let mut writer = connect(&path, true).map_err(|e| schema::classify(&path, e))?;
        let owner = take_ownership(&path)?;
        if writer.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(OpenStateError::ReadOnly {
                path,
                detail: "SQLite could open it for reading only".into(),
                source: None,
            });
        }
        retry_open(&path, || schema::validate(&writer, &path))?;
        retry_open(&path, || {
            let mode: String = writer
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .map_err(|e| schema::classify(&path, e))?;
            if mode.eq_ignore_ascii_case("wal") {
                Ok(())
            } else {
                Err(OpenStateError::ReadOnly {
                    path: path.clone(),
                    detail: format!("SQLite could not switch it to WAL mode (it stayed in {mode})"),
                    source: None,
                })
            }
        })?;
        let found = retry_open(&path, || {
            schema::migrate(&mut writer, &path).map_err(|e| schema::classify(&path, e))
        })?;
        if found > schema::latest_version() {
            return Err(OpenStateError::TooNew {
                path,
                found,
                supported: schema::latest_version(),
            });
        }
        // This process owns the file now (the lock above), so any lease in
        // it belongs to a process that is gone: free them, so that a restart
        // takes its releases back at once rather than after the lease TTL.
        retry_open(&path, || {
            writer
                .execute("UPDATE leases SET owner = NULL WHERE owner IS NOT NULL", [])
                .map(drop)
                .map_err(|e| schema::classify(&path, e))
        })?;
        if created {
            sync_parent_dir(&path);
        }
        Ok(Self {
            label: path.display().to_string(),
            path,
            writer: Mutex::new(writer),
            readers: Some(Mutex::new(Vec::new())),
            inserts: AtomicU64::new(0),
            threads: Arc::new(Semaphore::new(MAX_THREADS)),
            _owner: Some(owner),
        })
    }

    /// Opens an existing database for reading only, beside the process that
    /// owns it (inspection, tests): no lock is taken, the schema must be
    /// this build's, and every write fails.
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, OpenStateError> {
        let path = path.to_path_buf();
        if precheck(&path)? {
            return Err(OpenStateError::Missing { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(&path, flags)
            .and_then(|conn| conn.busy_timeout(BUSY_TIMEOUT).map(|()| conn))
            .map_err(|e| schema::classify(&path, e))?;
        retry_open(&path, || schema::validate(&reader, &path))?;
        Ok(Self {
            label: path.display().to_string(),
            path,
            writer: Mutex::new(reader),
            readers: None,
            inserts: AtomicU64::new(0),
            threads: Arc::new(Semaphore::new(MAX_THREADS)),
            _owner: None,
        })
    }

    /// A private in-memory database (gone when dropped).
    pub(crate) fn open_in_memory() -> Result<Self, OpenStateError> {
        let path = PathBuf::from(":memory:");
        let mut writer = Connection::open_in_memory().map_err(|e| schema::classify(&path, e))?;
        configure(&writer).map_err(|e| schema::classify(&path, e))?;
        schema::migrate(&mut writer, &path).map_err(|e| schema::classify(&path, e))?;
        Ok(Self {
            label: path.display().to_string(),
            path,
            writer: Mutex::new(writer),
            readers: None,
            inserts: AtomicU64::new(0),
            threads: Arc::new(Semaphore::new(MAX_THREADS)),
            _owner: None,
        })
    }

    /// The file, as given to [`Database::open`].
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Runs `op` in a `BEGIN IMMEDIATE` transaction and commits it,
    /// retrying the whole transaction while the database is busy.
    pub(crate) fn write<T>(
        &self,
        mut op: impl FnMut(&Transaction<'_>) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let mut conn = lock(&self.writer);
        retry(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = op(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Runs `op` on a read connection, retrying while the database is busy.
    pub(crate) fn read<T>(
        &self,
        mut op: impl FnMut(&Connection) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let Some(readers) = &self.readers else {
            let conn = lock(&self.writer);
            return retry(|| op(&conn));
        };
        let idle = lock(readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            // Never `CREATE` here: a file moved away while running must not
            // silently come back empty.
            None => retry(|| connect(&self.path, false).map_err(OpError::from))?,
        };
        let out = retry(|| op(&conn));
        let mut idle = lock(readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// Runs a blocking database operation on tokio's blocking pool, at most
    /// [`MAX_THREADS`] at once (or inline when called outside a tokio
    /// runtime).
    pub(crate) async fn run<T, F>(self: &Arc<Self>, op: F) -> Result<T, OpError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, OpError> + Send + 'static,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return op(self);
        }
        let permit = Arc::clone(&self.threads)
            .acquire_owned()
            .await
            .map_err(|e| OpError::Task(e.to_string()))?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held by the thread, not the caller: a caller that gives up
            // does not free the room while the thread still works.
            let _permit = permit;
            op(&db)
        })
        .await
        .map_err(|e| OpError::Task(e.to_string()))?
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Retries `attempt` with a growing pause while SQLite reports busy or
/// locked, for up to [`RETRY_FOR`]; then reports [`OpError::Busy`].
fn retry<T>(mut attempt: impl FnMut() -> Result<T, OpError>) -> Result<T, OpError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match attempt() {
            Err(e) if e.is_busy() => {
                if start.elapsed() >= RETRY_FOR {
                    return Err(OpError::Busy(start.elapsed()));
                }
                tracing::debug!(error = %e, "state database busy; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// [`retry`] for the steps of opening, whose errors are already classified.
fn retry_open<T>(
    path: &Path,
    mut attempt: impl FnMut() -> Result<T, OpenStateError>,
) -> Result<T, OpenStateError> {
    let start = Instant::now();
    loop {
        match attempt() {
            Err(OpenStateError::Sqlite { source, .. })
                if start.elapsed() < RETRY_FOR
                    && source
                        .downcast_ref::<rusqlite::Error>()
                        .is_some_and(crate::error::is_busy) =>
            {
                tracing::debug!(path = %path.display(), "state database busy while opening; retrying");
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Opens a connection to an existing (or, with `create`, a new) file and
/// configures it.
fn connect(path: &Path, create: bool) -> Result<Connection, rusqlite::Error> {
    // No SQLITE_OPEN_URI: a path is a path.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn)?;
    Ok(conn)
}

/// Per-connection settings. `synchronous = FULL` makes every commit reach
/// the disk before it returns.
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    Ok(())
}

/// Locks the database file for this process (an advisory `flock`, held
/// until the database is dropped; independent of SQLite's own locks), or
/// says that another chatdeploy process already keeps its state there.
fn take_ownership(path: &Path) -> Result<File, OpenStateError> {
    let file = File::open(path).map_err(|source| OpenStateError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenStateError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(OpenStateError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Checks with plain file operations what SQLite would report vaguely.
/// Returns whether the file is about to be created.
fn precheck(path: &Path) -> Result<bool, OpenStateError> {
    let owned = || path.to_path_buf();
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(OpenStateError::NotAFile { path: owned() }),
        Ok(_) => {
            File::open(path).map_err(|source| OpenStateError::Unreadable {
                path: owned(),
                source,
            })?;
            // Opening for writing without truncating or creating changes nothing.
            match OpenOptions::new().write(true).open(path) {
                Ok(_) => Ok(false),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
                    ) =>
                {
                    Err(OpenStateError::ReadOnly {
                        path: owned(),
                        detail: format!("the file cannot be opened for writing: {e}"),
                        source: Some(Box::new(e)),
                    })
                }
                Err(e) => Err(OpenStateError::Unreadable {
                    path: owned(),
                    source: e,
                }),
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if parent.is_dir() {
                Ok(true)
            } else {
                Err(OpenStateError::MissingDirectory { path: owned() })
            }
        }
        Err(source) => Err(OpenStateError::Unreadable {
            path: owned(),
            source,
        }),
    }
}

/// Makes a new file's directory entry durable (best effort: SQLite syncs
/// the data itself).
fn sync_parent_dir(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(parent).and_then(|dir| dir.sync_all()) {
        tracing::warn!(dir = %parent.display(), error = %e, "could not sync the state database's directory");
    }
}
