//! The JSONL audit sink's rotation: by size and by day, every record in
//! exactly one file and in order, the replay guard carried across files,
//! failures returned.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chatdeploy_core::UserId;
use chatdeploy_core::audit::{AuditAction, AuditError, AuditEvent, AuditSink, JsonlAuditSink};
use chrono::{DateTime, TimeZone, Utc};

fn record(id: &str, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::identified_at(id, at, AuditAction::Queried, Some(UserId::new("U01")))
        .with_reason("r".repeat(100))
}

fn now_record(id: &str) -> AuditEvent {
    record(id, Utc::now())
}

fn read(path: &Path) -> Vec<AuditEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one complete JSON record"))
        .collect()
}

/// Every record of the log, file by file in the order `files` gives.
fn read_all(sink: &JsonlAuditSink) -> Vec<AuditEvent> {
    sink.files().unwrap().iter().flat_map(|p| read(p)).collect()
}

fn ids(events: &[AuditEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

fn names(files: &[PathBuf]) -> Vec<String> {
    let name = |p: &PathBuf| p.file_name().unwrap().to_str().unwrap().to_owned();
    files.iter().map(name).collect()
}

#[tokio::test]
async fn rotating_by_size_keeps_every_record_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let limit = 2048;
    let open = || {
        JsonlAuditSink::builder(&path)
            .with_rotate_at_bytes(limit)
            .build()
            .unwrap()
    };
    let mut sink = open();
    let mut written = Vec::new();
    for n in 0..300 {
        let event = now_record(&format!("Ev{n:04}:queried"));
        sink.record(&event).await.unwrap();
        written.push(event);
        if n == 150 {
            // A restart half-way: the new process appends to the same log.
            sink = open();
        }
    }
    let files = sink.files().unwrap();
    assert!(files.len() > 10, "rotated {} times", files.len() - 1);
    assert_eq!(read_all(&sink), written, "every record once, in order");
    for file in &files[..files.len() - 1] {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size <= limit, "{} holds {size} bytes", file.display());
        assert!(size > limit / 2, "rotated before it was needed");
    }
    // Plain `ls` order is write order, the current file last.
    let mut sorted = names(&files[..files.len() - 1]);
    sorted.sort();
    assert_eq!(sorted, names(&files[..files.len() - 1]));
    assert_eq!(files.last().unwrap(), &path);
    let first = &names(&files)[0];
    assert!(first.starts_with("audit.jsonl.00000001."), "{first}");
    // After a reopen the log is listed the same way, and goes on.
    let reopened = open();
    assert_eq!(reopened.files().unwrap(), files);
    let last = now_record("Ev-after");
    reopened.record(&last).await.unwrap();
    written.push(last);
    assert_eq!(read_all(&reopened), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_across_rotations_lose_and_double_nothing() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(
        JsonlAuditSink::builder(dir.path().join("audit.jsonl"))
            .with_rotate_at_bytes(2048)
            .build()
            .unwrap(),
    );
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let sink = Arc::clone(&sink);
        handles.push(tokio::spawn(async move {
            for n in 0..PER_TASK {
                let event = now_record(&format!("t{task}-{n}"));
                sink.record(&event).await.unwrap();
                // Every task also replays its previous record, as a
                // resumed step would.
                sink.record(&event).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let all = ids(&read_all(&sink));
    assert_eq!(all.len(), TASKS * PER_TASK, "no record lost or doubled");
    for task in 0..TASKS {
        let prefix = format!("t{task}-");
        let mine: Vec<&String> = all.iter().filter(|id| id.starts_with(&prefix)).collect();
        let expected: Vec<String> = (0..PER_TASK).map(|n| format!("t{task}-{n}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "task {task}");
    }
    assert!(sink.files().unwrap().len() > 10);
}

#[tokio::test]
async fn a_replay_right_after_a_rotation_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let open = || {
        JsonlAuditSink::builder(&path)
            .with_rotate_at_bytes(300)
            .build()
            .unwrap()
    };
    let sink = open();
    let started = now_record("d-1:started");
    let outcome = now_record("d-1:outcome");
    sink.record(&started).await.unwrap();
    // Does not fit next to `started`: written to a new file.
    sink.record(&outcome).await.unwrap();
    assert_eq!(sink.files().unwrap().len(), 2);
    sink.record(&started).await.unwrap();
    // Reopened, the window is read from the rotated file too.
    let reopened = open();
    assert_eq!(reopened.remembered_ids(), 2);
    reopened.record(&started).await.unwrap();
    reopened.record(&outcome).await.unwrap();
    assert_eq!(read_all(&reopened), vec![started, outcome]);
    assert_eq!(reopened.files().unwrap().len(), 2, "a drop never rotates");
}

/// A clock the test moves.
fn manual_clock(start: DateTime<Utc>) -> (Arc<Mutex<DateTime<Utc>>>, impl Fn() -> DateTime<Utc>) {
    let now = Arc::new(Mutex::new(start));
    let read = Arc::clone(&now);
    (now, move || *read.lock().unwrap())
}

#[tokio::test]
async fn rotating_daily_gives_each_utc_day_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let day1 = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
    let (now, clock) = manual_clock(day1);
    let sink = JsonlAuditSink::builder(&path)
        .without_rotation()
        .with_rotate_daily()
        .with_clock(clock)
        .build()
        .unwrap();
    let write = async |at: DateTime<Utc>, id: &str| {
        *now.lock().unwrap() = at;
        let event = record(id, at);
        sink.record(&event).await.unwrap();
        event
    };
    let a = write(day1, "a").await;
    let b = write(
        day1 + chrono::Duration::hours(13) + chrono::Duration::minutes(59),
        "b",
    )
    .await;
    let c = write(
        day1 + chrono::Duration::hours(14) + chrono::Duration::minutes(1),
        "c",
    )
    .await;
    let files = sink.files().unwrap();
    assert_eq!(
        names(&files),
        ["audit.jsonl.00000001.2026-11-29T10-00-00Z", "audit.jsonl"]
    );
    assert_eq!(read(&files[0]), vec![a, b]);
    assert_eq!(read(&files[1]), vec![c.clone()]);
    // A restart two days later: the current file's day comes from its first
    // record, so the next write still starts a new file.
    let day3 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
    let (_, clock) = manual_clock(day3);
    let reopened = JsonlAuditSink::builder(&path)
        .with_rotate_daily()
        .with_clock(clock)
        .build()
        .unwrap();
    let d = record("d", day3);
    reopened.record(&d).await.unwrap();
    let files = reopened.files().unwrap();
    assert_eq!(
        names(&files)[1],
        "audit.jsonl.00000002.2026-11-30T00-01-00Z"
    );
    assert_eq!(read(&files[1]), vec![c]);
    assert_eq!(read(&files[2]), vec![d]);
}

#[tokio::test]
async fn a_failed_rotation_is_an_error_and_writes_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("log");
    let moved = parent.path().join("moved");
    std::fs::create_dir(&dir).unwrap();
    let sink = JsonlAuditSink::builder(dir.join("audit.jsonl"))
        .with_rotate_at_bytes(300)
        .build()
        .unwrap();
    let first = now_record("first");
    let second = now_record("second");
    sink.record(&first).await.unwrap();
    // The directory goes away under the open file: the rotation due before
    // `second` cannot rename it.
    std::fs::rename(&dir, &moved).unwrap();
    let error = sink.record(&second).await.unwrap_err();
    assert!(matches!(error, AuditError::Rotate { .. }), "{error:?}");
    assert!(error.to_string().contains("not written"), "{error}");
    assert_eq!(read(&moved.join("audit.jsonl")), vec![first.clone()]);
    // Once it is back, the next attempt rotates and writes, once.
    std::fs::rename(&moved, &dir).unwrap();
    sink.record(&second).await.unwrap();
    sink.record(&second).await.unwrap();
    assert_eq!(read_all(&sink), vec![first, second]);
}

#[tokio::test]
async fn rotated_files_already_there_are_found_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let old = dir.path().join("audit.jsonl.00000001.2026-01-01T00-00-00Z");
    let old_event = now_record("old");
    std::fs::write(
        &old,
        format!("{}\n", serde_json::to_string(&old_event).unwrap()),
    )
    .unwrap();
    // An operator compressed the second file: not ours to read, but its
    // number is taken.
    let zipped = dir
        .path()
        .join("audit.jsonl.00000002.2026-02-01T00-00-00Z.gz");
    std::fs::write(&zipped, b"\x1f\x8b not a log").unwrap();
    let sink = JsonlAuditSink::builder(&path)
        .with_rotate_at_bytes(300)
        .build()
        .unwrap();
    assert_eq!(sink.remembered_ids(), 1, "the window reaches the old file");
    sink.record(&old_event).await.unwrap();
    let (a, b) = (now_record("a"), now_record("b"));
    sink.record(&a).await.unwrap();
    sink.record(&b).await.unwrap();
    let files = sink.files().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0], old);
    assert!(names(&files)[1].starts_with("audit.jsonl.00000003."));
    assert_eq!(read_all(&sink), vec![old_event, a, b]);
    assert_eq!(std::fs::read(&zipped).unwrap(), b"\x1f\x8b not a log");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_device_is_never_rotated() {
    let sink = JsonlAuditSink::builder("/dev/full")
        .with_rotate_at_bytes(1)
        .with_rotate_daily()
        .build()
        .unwrap();
    let error = sink.record(&now_record("x")).await.unwrap_err();
    assert!(matches!(error, AuditError::Io { .. }), "{error:?}");
    assert!(Path::new("/dev/full").exists());
}
