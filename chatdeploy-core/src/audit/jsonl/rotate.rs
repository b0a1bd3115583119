//! Rotated files: their names, finding them again, and moving the current
//! file aside.
//!
//! A rotated file is named `<name>.<seq>.<started>`, e.g.
//! `audit.jsonl.00000042.2026-11-29T21-00-00Z`: `seq` (eight digits or
//! more) counts up from 1 and orders the files, so a clock stepping back
//! cannot reorder them; `started` is when the file's first record was
//! written (UTC), for people looking for a day. Names sort in write order
//! (up to 99,999,999 rotations; past that, by number), and a name is never
//! reused: the next `seq` is one more than any in the directory.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

const STAMP: &str = "%Y-%m-%dT%H-%M-%SZ";

/// The directory holding `path`'s directory entry.
pub(super) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes the directory entries of `path`'s directory durable (a created or
/// renamed file survives a crash).
pub(super) fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(dir_of(path))?.sync_all()
}

/// The prefix of `current`'s rotated files (`audit.jsonl.`); `None` when
/// its name is not UTF-8, which rotation needs to recognise them.
pub(super) fn prefix(current: &Path) -> Option<String> {
    Some(format!("{}.", current.file_name()?.to_str()?))
}

/// The rotated files of `current`, oldest first, and the highest `seq` any
/// name in the directory uses (also names that are not ours as a whole,
/// e.g. a rotated file an operator compressed to `….gz`).
pub(super) fn list(current: &Path) -> std::io::Result<(Vec<PathBuf>, u64)> {
    let Some(prefix) = prefix(current) else {
        return Ok((Vec::new(), 0));
    };
    let mut files = Vec::new();
    let mut highest = 0;
    for entry in std::fs::read_dir(dir_of(current))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((seq, whole)) = name.to_str().and_then(|n| parse(n, &prefix)) else {
            continue;
        };
        highest = highest.max(seq);
        if whole {
            files.push((seq, entry.path()));
        }
    }
    files.sort_unstable();
    Ok((files.into_iter().map(|(_, path)| path).collect(), highest))
}

/// `Some((seq, whole))` for a name starting with `<prefix><digits>.`;
/// `whole` when the rest is exactly a time stamp (one of our files).
fn parse(name: &str, prefix: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix(prefix)?;
    let (digits, stamp) = rest.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = digits.parse().ok()?;
    Some((seq, NaiveDateTime::parse_from_str(stamp, STAMP).is_ok()))
}

/// The name of the `seq`th rotated file of `current`.
pub(super) fn rotated_name(current: &Path, seq: u64, started: DateTime<Utc>) -> PathBuf {
    let mut name = current.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(".{seq:08}.{}", started.format(STAMP)));
    current.with_file_name(name)
}

/// Where a rotation stopped.
#[derive(Debug)]
pub(super) struct RotateFailure {
    /// The name being moved to, once chosen.
    pub(super) to: Option<PathBuf>,
    /// Whether the file was moved already (only making the move durable
    /// failed): the current file must then be created anew.
    pub(super) renamed: bool,
    pub(super) source: std::io::Error,
}

/// Moves `current` aside under the next free name and makes the move
/// durable. Every record in it was fsynced when it was written, so the
/// file is complete; nothing is copied, so nothing can be doubled. A crash
/// leaves either name (the rename is atomic), never both.
pub(super) fn rotate(current: &Path, started: DateTime<Utc>) -> Result<PathBuf, RotateFailure> {
    let (_, highest) = list(current).map_err(|source| RotateFailure {
        to: None,
        renamed: false,
        source,
    })?;
    let to = rotated_name(current, highest + 1, started);
    let fail = |renamed, source| RotateFailure {
        to: Some(to.clone()),
        renamed,
        source,
    };
    // rename(2) replaces an existing target; never let it.
    if to.symlink_metadata().is_ok() {
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        return Err(fail(false, exists));
    }
    std::fs::rename(current, &to).map_err(|e| fail(false, e))?;
    sync_dir(current).map_err(|e| fail(true, e))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_sort_in_write_order_and_parse_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 21, 0, 0).unwrap();
        let current = Path::new("/var/log/audit.jsonl");
        let ninth = rotated_name(current, 9, at);
        let tenth = rotated_name(current, 10, at - chrono::Duration::days(1));
        assert_eq!(
            ninth,
            Path::new("/var/log/audit.jsonl.00000009.2026-11-29T21-00-00Z")
        );
        assert!(ninth < tenth, "a clock stepping back does not reorder");
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(parse(&name(&tenth), "audit.jsonl."), Some((10, true)));
        let gz = format!("{}.gz", name(&tenth));
        assert_eq!(parse(&gz, "audit.jsonl."), Some((10, false)));
        assert_eq!(parse("audit.jsonl.bak", "audit.jsonl."), None);
        assert_eq!(parse("audit.jsonl.12", "audit.jsonl."), None);
    }
}
