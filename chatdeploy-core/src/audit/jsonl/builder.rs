//! The builder of [`JsonlAuditSink`]: rotation, replay window, clock.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{JsonlAuditSink, rotate};
use crate::audit::AuditError;

/// The wall clock that decides daily rotation and stamps rotated files.
#[derive(Clone)]
pub(super) struct Clock(pub(super) Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// What the sink keeps of the builder's options.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) rotate_at_bytes: Option<u64>,
    pub(super) rotate_daily: bool,
    pub(super) clock: Clock,
}

/// Options of a [`JsonlAuditSink`], from [`JsonlAuditSink::builder`]; the
/// defaults are those of [`JsonlAuditSink::open`].
///
/// ```no_run
/// # fn demo() -> Result<(), chatdeploy_core::audit::AuditError> {
/// use chatdeploy_core::audit::JsonlAuditSink;
///
/// let sink = JsonlAuditSink::builder("/var/log/chatdeploy/audit.jsonl")
///     .with_rotate_at_bytes(64 * 1024 * 1024)
///     .with_rotate_daily()
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct JsonlAuditSinkBuilder {
    path: PathBuf,
    settings: Settings,
    replay_window: usize,
}

impl JsonlAuditSinkBuilder {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            settings: Settings {
                rotate_at_bytes: Some(JsonlAuditSink::DEFAULT_ROTATE_AT_BYTES),
                rotate_daily: false,
                clock: Clock(Arc::new(Utc::now)),
            },
            replay_window: JsonlAuditSink::DEFAULT_REPLAY_WINDOW,
        }
    }

    /// Rotates the current file before a write that would take it past
    /// `bytes` (a record larger than `bytes` gets a file of its own).
    pub fn with_rotate_at_bytes(mut self, bytes: u64) -> Self {
        self.settings.rotate_at_bytes = Some(bytes);
        self
    }

    /// Rotates the current file before the first write of each new UTC
    /// day, so that each file holds one day (together with a size, also
    /// whenever the file reaches it).
    pub fn with_rotate_daily(mut self) -> Self {
        self.settings.rotate_daily = true;
        self
    }

    /// Never rotates: one file that grows for ever (its size still does
    /// not slow down opening it).
    pub fn without_rotation(mut self) -> Self {
        self.settings.rotate_at_bytes = None;
        self.settings.rotate_daily = false;
        self
    }

    /// How many of the log's last lines the replay guard covers (see
    /// [`JsonlAuditSink`]): the IDs it keeps in memory and reads at open.
    /// Roughly 130 bytes of memory per line.
    pub fn with_replay_window(mut self, lines: usize) -> Self {
        self.replay_window = lines;
        self
    }

    /// The wall clock that decides daily rotation and stamps the names of
    /// rotated files; [`Utc::now`] unless set (tests set it).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.settings.clock = Clock(Arc::new(clock));
        self
    }

    /// Opens (or creates) the log, reading the replay window from the end
    /// of its files.
    ///
    /// # Errors
    ///
    /// - [`AuditError::InvalidOption`] for a replay window of 0 (a replay
    ///   would be written twice), or rotation of a file whose name is not
    ///   UTF-8 (its rotated files could not be recognised).
    /// - [`AuditError::Io`] naming the path when it cannot be opened for
    ///   reading and appending (its directory is missing, it is read-only)
    ///   or the end of the log cannot be read.
    pub fn build(self) -> Result<JsonlAuditSink, AuditError> {
        if self.replay_window == 0 {
            return Err(AuditError::InvalidOption {
                option: "replay_window",
                reason: "must be at least 1 line, or replayed records would be written twice"
                    .into(),
            });
        }
        let rotating = self.settings.rotate_at_bytes.is_some() || self.settings.rotate_daily;
        if rotating && rotate::prefix(&self.path).is_none() {
            return Err(AuditError::InvalidOption {
                option: "rotation",
                reason: format!(
                    "the file name of {} must be UTF-8 to rotate it",
                    self.path.display()
                ),
            });
        }
        JsonlAuditSink::from_settings(self.path, self.settings, self.replay_window)
    }
}
