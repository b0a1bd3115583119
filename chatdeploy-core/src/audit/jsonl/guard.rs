//! The replay guard: the IDs of the last N lines of the log, in memory, and
//! how they are read back at open from the tail of the files alone.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The IDs of the records among the last `window` lines of the log, oldest
/// first. Bounded: a new line beyond the window forgets the oldest one.
#[derive(Debug)]
pub(super) struct ReplayGuard {
    window: usize,
    /// One slot per line, oldest first; `None` for a line that holds no
    /// record (torn or foreign).
    order: VecDeque<Option<Arc<str>>>,
    ids: HashSet<Arc<str>>,
}

impl ReplayGuard {
    pub(super) fn new(window: usize) -> Self {
        Self {
            window,
            order: VecDeque::new(),
            ids: HashSet::new(),
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many IDs are remembered (at most the window).
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Remembers one more line of the log: `Some(id)` for a record, `None`
    /// for a line without one (it still takes its place in the window, so
    /// the window is exactly the last N lines, at open as while writing).
    pub(super) fn push_line(&mut self, id: Option<&str>) {
        let slot = id.map(|id| match self.ids.get(id) {
            // The same ID on two lines (written again after it had left
            // the window): one allocation, remembered while either line is
            // in the window.
            Some(known) => Arc::clone(known),
            None => {
                let id: Arc<str> = Arc::from(id);
                self.ids.insert(Arc::clone(&id));
                id
            }
        });
        self.order.push_back(slot);
        while self.order.len() > self.window {
            if let Some(Some(old)) = self.order.pop_front() {
                // Held by the set and this slot only: its last line left.
                if Arc::strong_count(&old) == 2 {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The record ID of one line, `None` when the line is not one whole record
/// (a torn line must not count: its record was never acknowledged).
pub(super) fn line_id(line: &[u8]) -> Option<Cow<'_, str>> {
    serde_json::from_slice::<IdOnly<'_>>(line)
        .ok()
        .map(|r| r.id)
}

const CHUNK: usize = 64 * 1024;

/// Fills `guard` with the last `guard.window` lines of `files` (oldest file
/// first), reading each file only from where its share of those lines
/// begins: the cost depends on the window, not on how long the log is.
pub(super) fn fill_from_tail(guard: &mut ReplayGuard, files: &[PathBuf]) -> std::io::Result<()> {
    let mut plan = Vec::new();
    let mut wanted = guard.window;
    for path in files.iter().rev() {
        if wanted == 0 {
            break;
        }
        let mut file = File::open(path)?;
        let (start, lines) = tail_start(&mut file, wanted)?;
        wanted -= lines;
        plan.push((path, file, start));
    }
    for (_path, file, start) in plan.into_iter().rev() {
        read_lines_from(guard, file, start)?;
    }
    Ok(())
}

/// Where the last `wanted` lines of `file` begin, and how many lines there
/// are from there (fewer than `wanted` when the file is shorter). A final
/// fragment without a newline counts as a line.
fn tail_start(file: &mut File, wanted: usize) -> std::io::Result<(u64, usize)> {
    let len = file.metadata()?.len();
    if len == 0 || wanted == 0 {
        return Ok((len, 0));
    }
    let mut buf = vec![0u8; CHUNK];
    // The file's last byte ends the last line; it separates nothing.
    let mut end = len;
    let mut lines = 0usize;
    let mut skip_last = true;
    while end > 0 {
        let size = usize::try_from(end.min(CHUNK as u64)).unwrap_or(CHUNK);
        let begin = end - size as u64;
        file.seek(SeekFrom::Start(begin))?;
        file.read_exact(&mut buf[..size])?;
        let mut slice = &buf[..size];
        if skip_last {
            skip_last = false;
            if slice.last() == Some(&b'\n') {
                slice = &slice[..size - 1];
            }
        }
        // Counting vectorises; looking for the exact newline does not, so
        // only the chunk where the window begins is searched.
        let newlines = count_newlines(slice);
        if lines + newlines < wanted {
            lines += newlines;
            end = begin;
            continue;
        }
        for (at, _) in slice.iter().enumerate().rev().filter(|(_, b)| **b == b'\n') {
            lines += 1;
            if lines == wanted {
                return Ok((begin + at as u64 + 1, lines));
            }
        }
        end = begin;
    }
    // Reached the start: the first line has no newline before it.
    Ok((0, lines + 1))
}

/// The newlines in `bytes`, summed per 64 bytes in a `u8` so that the
/// compiler compares 16 or 32 bytes at a time.
fn count_newlines(bytes: &[u8]) -> usize {
    bytes
        .chunks(64)
        .map(|chunk| {
            let in_chunk: u8 = chunk.iter().map(|b| u8::from(*b == b'\n')).sum();
            usize::from(in_chunk)
        })
        .sum()
}

fn read_lines_from(guard: &mut ReplayGuard, mut file: File, start: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::with_capacity(CHUNK, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        guard.push_line(line_id(&line).as_deref());
    }
}

/// The first line of `path` (at most 1 MiB of it), to recover when the
/// current file was started.
pub(super) fn first_line(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    BufReader::new(File::open(path)?.take(1 << 20)).read_until(b'\n', &mut line)?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    fn guard_of(text: &str, window: usize) -> ReplayGuard {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let mut guard = ReplayGuard::new(window);
        fill_from_tail(&mut guard, &[path]).unwrap();
        guard
    }

    fn lines(ids: std::ops::Range<usize>) -> String {
        ids.map(|i| format!("{{\"id\":\"r{i}\"}}\n")).collect()
    }

    #[test]
    fn the_window_is_the_last_lines_of_the_file() {
        let guard = guard_of(&lines(0..10), 3);
        assert_eq!(guard.len(), 3);
        assert!(guard.contains("r7") && guard.contains("r9"));
        assert!(!guard.contains("r6"));
    }

    #[test]
    fn the_window_starts_at_the_right_line_chunks_away_from_the_end() {
        // ~15 bytes a line: the window begins four 64 KiB chunks back.
        let guard = guard_of(&lines(0..40_000), 20_000);
        assert_eq!(guard.len(), 20_000);
        assert!(guard.contains("r20000") && guard.contains("r39999"));
        assert!(!guard.contains("r19999"));
    }

    #[test]
    fn a_short_file_is_read_whole() {
        let guard = guard_of(&lines(0..4), 100);
        assert_eq!(guard.len(), 4);
        assert!(guard.contains("r0"));
    }

    #[test]
    fn torn_and_foreign_lines_take_a_place_but_remember_nothing() {
        let text = format!("{}not json\n{}{{\"id\":\"torn\",", lines(0..3), lines(3..5));
        let guard = guard_of(&text, 4);
        // The last 4 lines: "not json", r3, r4, the torn one.
        assert_eq!(guard.len(), 2);
        assert!(guard.contains("r3") && guard.contains("r4"));
        assert!(!guard.contains("torn") && !guard.contains("r2"));
    }

    #[test]
    fn lines_longer_than_a_chunk_are_counted_once() {
        let long = format!("{{\"id\":\"long\",\"x\":\"{}\"}}\n", "y".repeat(3 * CHUNK));
        let text = format!("{}{long}{}", lines(0..2), lines(2..3));
        let guard = guard_of(&text, 2);
        assert_eq!(guard.len(), 2);
        assert!(guard.contains("long") && guard.contains("r2"));
    }

    #[test]
    fn the_window_spans_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let older = dir.path().join("a");
        let newer = dir.path().join("b");
        std::fs::write(&older, lines(0..5)).unwrap();
        std::fs::write(&newer, lines(5..7)).unwrap();
        let mut guard = ReplayGuard::new(4);
        fill_from_tail(&mut guard, &[older, newer]).unwrap();
        assert_eq!(guard.len(), 4);
        assert!(guard.contains("r3") && guard.contains("r6"));
        assert!(!guard.contains("r2"));
        // Writing on pushes the oldest out, in file order.
        guard.push_line(Some("r7"));
        assert!(!guard.contains("r3") && guard.contains("r4"));
    }

    #[test]
    fn an_id_on_two_lines_is_remembered_until_the_later_one_leaves() {
        let mut guard = ReplayGuard::new(3);
        for id in ["a", "b", "a", "c"] {
            guard.push_line(Some(id));
        }
        // The first "a" left the window, the second is still in it.
        assert!(guard.contains("a"));
        guard.push_line(Some("d"));
        guard.push_line(Some("e"));
        assert!(!guard.contains("a"));
        assert_eq!(guard.len(), 3);
    }
}
