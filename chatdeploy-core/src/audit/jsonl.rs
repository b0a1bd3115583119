//! An append-only JSON Lines audit file, fsynced record by record.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{AuditError, AuditEvent, AuditSink};

/// An [`AuditSink`] writing one JSON object per line to a file.
///
/// Each record is serialised first, then written with a single `write_all`
/// under a lock, flushed and `fsync`ed before [`AuditSink::record`] returns,
/// so records from concurrent tasks never interleave and an `Ok` survives a
/// crash. A failed write is rolled back to the previous end of the file so
/// that a half-written line never merges with the next record. The IDs of
/// the records already in the file are read at open, so a record replayed
/// after a restart is not written twice.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink, JsonlAuditSink};
///
/// let sink = JsonlAuditSink::open("audit.jsonl")?;
/// sink.record(&AuditEvent::new(AuditAction::Locked, Some("U01".into()))).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JsonlAuditSink {
    path: PathBuf,
    file: Arc<Mutex<AuditFile>>,
}

#[derive(Debug)]
struct AuditFile {
    file: File,
    ids: HashSet<String>,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

impl JsonlAuditSink {
    /// Opens (or creates) the file for appending and reads the IDs of the
    /// records already in it.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] naming the path when it cannot be opened for
    /// reading and appending, e.g. its directory is missing or it is
    /// read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let io_error = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error)?;
        if !existed {
            // Make the new file's directory entry durable too.
            sync_parent_dir(&path).map_err(io_error)?;
        }
        let ids = existing_ids(&mut file).map_err(io_error)?;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(AuditFile { file, ids })),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the IDs already in the file and makes sure it ends with a newline,
/// so a line torn by a crash stays on its own line.
fn existing_ids(file: &mut File) -> std::io::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    let len = file.metadata()?.len();
    if len == 0 || !file.metadata()?.is_file() {
        return Ok(ids);
    }
    file.seek(SeekFrom::Start(0))?;
    for line in BufReader::new(&mut *file).lines() {
        // A torn or foreign line is kept as it is, never rewritten.
        if let Ok(IdOnly { id }) = serde_json::from_str(&line?) {
            ids.insert(id);
        }
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(ids)
}

fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

fn append_line(audit: &Mutex<AuditFile>, id: String, line: &[u8]) -> std::io::Result<()> {
    let mut audit = audit
        .lock()
        .map_err(|_| std::io::Error::other("audit file lock poisoned by an earlier panic"))?;
    if audit.ids.contains(&id) {
        return Ok(());
    }
    let file = &mut audit.file;
    let end = file.metadata()?.len();
    let written = file
        .write_all(line)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_data());
    match written {
        Ok(()) => {
            audit.ids.insert(id);
            Ok(())
        }
        Err(error) => {
            // Best effort: cut a partial line so the file stays one record
            // per line. The original error is what the caller needs to see.
            let _ = file.set_len(end);
            Err(error)
        }
    }
}

#[async_trait]
impl AuditSink for JsonlAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line =
            serde_json::to_vec(event).map_err(|source| AuditError::Serialize { source })?;
        line.push(b'\n');
        let file = Arc::clone(&self.file);
        let id = event.id.clone();
        // fsync blocks for milliseconds: keep it off the async workers.
        tokio::task::spawn_blocking(move || append_line(&file, id, &line))
            .await
            .map_err(|join| AuditError::Io {
                path: self.path.clone(),
                source: std::io::Error::other(join),
            })?
            .map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })
    }
}
