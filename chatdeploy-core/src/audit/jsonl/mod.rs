//! An append-only JSON Lines audit log: fsynced record by record, rotated
//! by size or by day, with a replay guard whose cost does not grow with
//! the log.

mod builder;
mod guard;
mod rotate;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use builder::JsonlAuditSinkBuilder;

use super::{AuditError, AuditEvent, AuditSink};
use builder::{Clock, Settings};
use guard::ReplayGuard;

/// An [`AuditSink`] writing one JSON object per line to a file, rotated by
/// size or by day.
///
/// Each record is serialised first, then written with a single `write_all`
/// under a lock, flushed and `fsync`ed before [`AuditSink::record`] returns,
/// so records from concurrent tasks never interleave and an `Ok` survives a
/// crash. A failed write is rolled back to the previous end of the file so
/// that a half-written line never merges with the next record.
///
/// # Replay guard
///
/// A record whose ID is among the last
/// [replay window](JsonlAuditSinkBuilder::with_replay_window) lines of the
/// log (default [`DEFAULT_REPLAY_WINDOW`](Self::DEFAULT_REPLAY_WINDOW),
/// 65,536), counted across rotated files and restarts, is accepted without
/// being written again. At open the sink reads only those lines, from the
/// end of the current file (and of the rotated files before it, when the
/// current one is shorter), and keeps only their IDs: open time and memory
/// depend on the window, never on the size or age of the log.
///
/// Why a window is enough: the engine gives a lifecycle record a
/// deterministic ID (`<release>:<step>`) and a command's record one derived
/// from its inbound event (`<event>:<action>`), and writes a record
/// *before* it stores the step the record belongs to. So it repeats an ID
/// only when it runs a step of a release still in flight again because the
/// state store does not have that step yet: when it resumes the release
/// after a restart, or retries a state write that failed. Between the first
/// copy and the repeat the log receives only the other work of that
/// interval: a few records per release in flight (the design's ceiling is
/// 1,000 in flight) and the commands answered meanwhile. Downtime adds
/// nothing (nothing is written while the bot is down), a redelivered
/// inbound event is dropped by the state store's dedupe before any record
/// is written, and `resumed` records have fresh IDs. 65,536 lines (over
/// three weeks of a bot that audits a million records a year) cover that
/// many times over.
/// Past the window a repeat is written again: the failure is a second
/// copy, never a lost record.
///
/// # Rotation
///
/// With [`with_rotate_at_bytes`](JsonlAuditSinkBuilder::with_rotate_at_bytes)
/// (default [`DEFAULT_ROTATE_AT_BYTES`](Self::DEFAULT_ROTATE_AT_BYTES),
/// 128 MiB) the current file is moved aside before a write that would take
/// it past that size (a file holds more only when one record alone is
/// larger); with [`with_rotate_daily`](JsonlAuditSinkBuilder::with_rotate_daily)
/// before the first write of a new UTC day. A rotated file is named
/// `<file>.<seq>.<started>`, e.g.
/// `audit.jsonl.00000042.2026-11-29T21-00-00Z` (`seq` counts up and orders
/// the files, names are never reused; `started` is the time of the file's
/// first record), and [`files`](Self::files) lists them in write order.
/// Each record was fsynced when it was written, and rotation renames
/// without copying, so every acknowledged record is in exactly one file.
/// A rotation that fails returns [`AuditError::Rotate`] and the record is
/// not written (fail closed); the next record tries again. A path that is
/// not a regular file (`/dev/full`, a FIFO) is never rotated. Rotated files
/// are never deleted: retention is the operator's (the replay guard reads
/// only the newest of them).
///
/// One process writes a log at a time.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink, JsonlAuditSink};
///
/// let sink = JsonlAuditSink::builder("audit.jsonl")
///     .with_rotate_daily()
///     .build()?;
/// sink.record(&AuditEvent::new(AuditAction::Locked, Some("U01".into()))).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JsonlAuditSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    settings: Settings,
    /// Only regular files rotate.
    regular: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// `None` after a rotation moved the file aside and before the next
    /// one is created.
    file: Option<File>,
    /// When the current file's first record was written; `None` while it
    /// is empty.
    started: Option<DateTime<Utc>>,
    guard: ReplayGuard,
}

impl JsonlAuditSink {
    /// The default replay window, in lines (see the type's documentation).
    pub const DEFAULT_REPLAY_WINDOW: usize = 65_536;
    /// The default size at which the current file is rotated: 128 MiB.
    pub const DEFAULT_ROTATE_AT_BYTES: u64 = 128 * 1024 * 1024;

    /// Opens (or creates) the log with the defaults: rotated at
    /// [`DEFAULT_ROTATE_AT_BYTES`](Self::DEFAULT_ROTATE_AT_BYTES), replay
    /// window of [`DEFAULT_REPLAY_WINDOW`](Self::DEFAULT_REPLAY_WINDOW)
    /// lines. Use [`builder`](Self::builder) for other settings.
    ///
    /// # Errors
    ///
    /// As [`JsonlAuditSinkBuilder::build`]: [`AuditError::Io`] naming the
    /// path when it cannot be opened for reading and appending (its
    /// directory is missing, it is read-only) or its tail cannot be read.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        Self::builder(path).build()
    }

    /// A builder for a log at `path`, with the defaults of
    /// [`open`](Self::open).
    pub fn builder(path: impl AsRef<Path>) -> JsonlAuditSinkBuilder {
        JsonlAuditSinkBuilder::new(path.as_ref().to_path_buf())
    }

    /// The current file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Every file of the log in write order: the rotated ones, oldest
    /// first, then the current file (when it exists). Reading them in this
    /// order gives every record once, in the order written.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] naming the directory when it cannot be listed.
    pub fn files(&self) -> Result<Vec<PathBuf>, AuditError> {
        log_files(&self.inner.path)
    }

    /// How many record IDs the replay guard holds now: at most the replay
    /// window, however long the log is.
    pub fn remembered_ids(&self) -> usize {
        self.inner.lock().map_or(0, |state| state.guard.len())
    }

    fn from_settings(path: PathBuf, settings: Settings, window: usize) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        if !existed {
            // Make the new file's directory entry durable too.
            rotate::sync_dir(&path).map_err(io)?;
        }
        let metadata = file.metadata().map_err(io)?;
        let regular = metadata.is_file();
        let mut guard = ReplayGuard::new(window);
        let mut started = None;
        if regular {
            let files = log_files(&path)?;
            guard::fill_from_tail(&mut guard, &files).map_err(io)?;
            if metadata.len() > 0 {
                end_with_newline(&mut file, metadata.len()).map_err(io)?;
                started = Some(first_record_time(&path).unwrap_or_else(|| settings.clock.now()));
            }
        }
        let state = State {
            file: Some(file),
            started,
            guard,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                settings,
                regular,
                state: Mutex::new(state),
            }),
        })
    }
}

fn log_files(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let (mut files, _) = rotate::list(path).map_err(|source| AuditError::Io {
        path: rotate::dir_of(path).to_path_buf(),
        source,
    })?;
    if path.is_file() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

/// Makes sure the file ends with a newline, so a line torn by a crash stays
/// on its own line (it is kept as it is, never rewritten).
fn end_with_newline(file: &mut File, len: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(())
}

/// The time of the current file's first record, to know its day after a
/// restart.
fn first_record_time(path: &Path) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct AtOnly {
        at: DateTime<Utc>,
    }
    let line = guard::first_line(path).ok()?;
    serde_json::from_slice::<AtOnly>(&line).ok().map(|r| r.at)
}

impl Inner {
    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, AuditError> {
        self.state.lock().map_err(|_| {
            self.io(std::io::Error::other(
                "audit file lock poisoned by an earlier panic",
            ))
        })
    }

    /// Appends one line unless its ID is in the replay window, rotating
    /// first when due. Runs on a blocking thread, under the lock, so
    /// rotations and writes from concurrent tasks happen one at a time.
    fn append(&self, id: &str, line: &[u8]) -> Result<(), AuditError> {
        let mut state = self.lock()?;
        if state.guard.contains(id) {
            return Ok(());
        }
        let now = self.settings.clock.now();
        self.rotate_if_due(&mut state, line.len() as u64, now)?;
        let file = match &mut state.file {
            Some(file) => file,
            None => state.file.insert(self.create_current()?),
        };
        let end = file.metadata().map_err(|e| self.io(e))?.len();
        let written = file
            .write_all(line)
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Best effort: cut a partial line so the file stays one record
            // per line. The original error is what the caller needs to see.
            let _ = file.set_len(end);
            return Err(self.io(error));
        }
        state.guard.push_line(Some(id));
        state.started.get_or_insert(now);
        Ok(())
    }

    fn rotate_if_due(
        &self,
        state: &mut State,
        line_len: u64,
        now: DateTime<Utc>,
    ) -> Result<(), AuditError> {
        let Some(file) = state.file.as_ref().filter(|_| self.regular) else {
            return Ok(());
        };
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        let by_size = self
            .settings
            .rotate_at_bytes
            .is_some_and(|max| len.saturating_add(line_len) > max);
        let by_day = self.settings.rotate_daily
            && state
                .started
                .is_some_and(|started| started.date_naive() != now.date_naive());
        if len == 0 || !(by_size || by_day) {
            return Ok(());
        }
        match rotate::rotate(&self.path, state.started.unwrap_or(now)) {
            Ok(to) => {
                tracing::info!(from = %self.path.display(), to = %to.display(), "audit log rotated");
                state.file = None;
                state.started = None;
                Ok(())
            }
            Err(failure) => {
                if failure.renamed {
                    // The handle now points at the rotated file: never
                    // append to it again.
                    state.file = None;
                    state.started = None;
                }
                Err(AuditError::Rotate {
                    path: self.path.clone(),
                    to: failure.to,
                    source: failure.source,
                })
            }
        }
    }

    fn create_current(&self) -> Result<File, AuditError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        rotate::sync_dir(&self.path).map_err(|e| self.io(e))?;
        Ok(file)
    }
}

#[async_trait]
impl AuditSink for JsonlAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line =
            serde_json::to_vec(event).map_err(|source| AuditError::Serialize { source })?;
        line.push(b'\n');
        let inner = Arc::clone(&self.inner);
        let id = event.id.clone();
        // fsync blocks for milliseconds: keep it off the async workers.
        tokio::task::spawn_blocking(move || inner.append(&id, &line))
            .await
            .map_err(|join| self.inner.io(std::io::Error::other(join)))?
    }
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}
