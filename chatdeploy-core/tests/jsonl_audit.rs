//! The JSONL audit sink: one record per line, durable, never interleaved,
//! errors surfaced.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::Arc;

use chatdeploy_core::audit::{AuditAction, AuditError, AuditEvent, AuditSink, JsonlAuditSink};
use chatdeploy_core::{DeploymentId, UserId};

fn event(task: usize, n: usize) -> AuditEvent {
    let mut event = AuditEvent::new(
        AuditAction::Requested,
        Some(UserId::new(format!("U{task}"))),
    );
    event.deployment = Some(DeploymentId::new(format!("d-{task}-{n}")));
    // A long reason makes a torn write far more likely if lines could interleave.
    event.reason = Some("x".repeat(2000 + task));
    event
}

fn read_events(path: &std::path::Path) -> Vec<AuditEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one complete JSON record"))
        .collect()
}

#[tokio::test]
async fn each_record_is_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink = JsonlAuditSink::open(&path).unwrap();
    let first = event(1, 1);
    let second = event(2, 1).with_reason("second");
    sink.record(&first).await.unwrap();
    sink.record(&second).await.unwrap();
    assert_eq!(read_events(&path), vec![first, second]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_never_interleave() {
    const TASKS: usize = 32;
    const PER_TASK: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink = Arc::new(JsonlAuditSink::open(&path).unwrap());
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let sink = Arc::clone(&sink);
        handles.push(tokio::spawn(async move {
            for n in 0..PER_TASK {
                sink.record(&event(task, n)).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let events = read_events(&path);
    assert_eq!(events.len(), TASKS * PER_TASK);
    for task in 0..TASKS {
        let mine: Vec<String> = events
            .iter()
            .filter(|e| e.actor == Some(UserId::new(format!("U{task}"))))
            .map(|e| e.deployment.as_ref().unwrap().to_string())
            .collect();
        let expected: Vec<String> = (0..PER_TASK).map(|n| format!("d-{task}-{n}")).collect();
        assert_eq!(
            mine, expected,
            "each task's records are complete and in order"
        );
    }
}

#[tokio::test]
async fn reopening_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    JsonlAuditSink::open(&path)
        .unwrap()
        .record(&event(1, 1))
        .await
        .unwrap();
    JsonlAuditSink::open(&path)
        .unwrap()
        .record(&event(1, 2))
        .await
        .unwrap();
    assert_eq!(read_events(&path).len(), 2);
}

#[tokio::test]
async fn a_missing_directory_fails_at_open_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("audit.jsonl");
    let error = JsonlAuditSink::open(&path).unwrap_err();
    assert!(matches!(error, AuditError::Io { .. }));
    assert!(error.to_string().contains("no-such-dir"), "{error}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_failed_write_is_returned_not_swallowed() {
    // /dev/full accepts the open and fails every write with ENOSPC.
    let sink = JsonlAuditSink::open("/dev/full").unwrap();
    let error = sink.record(&event(1, 1)).await.unwrap_err();
    let AuditError::Io { source, .. } = &error else {
        panic!("expected an I/O error, got {error:?}");
    };
    assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
}

#[tokio::test]
async fn a_replayed_record_is_written_once_even_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let record = event(1, 1).with_id("d-1:started");
    let sink = JsonlAuditSink::open(&path).unwrap();
    sink.record(&record).await.unwrap();
    sink.record(&record).await.unwrap();
    let reopened = JsonlAuditSink::open(&path).unwrap();
    reopened.record(&record).await.unwrap();
    reopened.record(&event(1, 2)).await.unwrap();
    assert_eq!(read_events(&path).len(), 2);
}

#[tokio::test]
async fn a_torn_last_line_does_not_swallow_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, "{\"id\":\"torn\",\"at\":").unwrap();
    let sink = JsonlAuditSink::open(&path).unwrap();
    let record = event(1, 1);
    sink.record(&record).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0], "{\"id\":\"torn\",\"at\":",
        "the torn line is kept as it was"
    );
    assert_eq!(
        serde_json::from_str::<AuditEvent>(lines[1]).unwrap(),
        record
    );
}

fn identified(id: &str) -> AuditEvent {
    AuditEvent::new(AuditAction::Started, None).with_id(id)
}

fn line_count(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[tokio::test]
async fn a_replay_within_the_window_is_dropped_and_one_past_it_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let open = || {
        JsonlAuditSink::builder(&path)
            .with_replay_window(4)
            .build()
            .unwrap()
    };
    let sink = open();
    for n in 0..10 {
        sink.record(&identified(&format!("d-{n}:started")))
            .await
            .unwrap();
    }
    assert_eq!(sink.remembered_ids(), 4, "the window, not the log");
    // The last 4 lines are d-6..d-9: a restart that replays them writes
    // nothing, in this process and in the next.
    for n in 6..10 {
        sink.record(&identified(&format!("d-{n}:started")))
            .await
            .unwrap();
    }
    let reopened = open();
    assert_eq!(reopened.remembered_ids(), 4);
    for n in 6..10 {
        reopened
            .record(&identified(&format!("d-{n}:started")))
            .await
            .unwrap();
    }
    assert_eq!(line_count(&path), 10);
    // Past the window a replay is a second copy, never a lost record.
    reopened.record(&identified("d-5:started")).await.unwrap();
    assert_eq!(line_count(&path), 11);
}

/// Writes `n` small records straight into a file, as a long-lived log.
fn long_log(path: &std::path::Path, n: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":"r{i}","at":"2026-11-29T21:00:00Z","action":"queried"}}"#
        )
        .unwrap();
    }
    out.flush().unwrap();
}

#[tokio::test]
async fn opening_a_long_log_remembers_only_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let window = JsonlAuditSink::DEFAULT_REPLAY_WINDOW;
    long_log(&path, window + 25_000);
    let sink = JsonlAuditSink::open(&path).unwrap();
    assert_eq!(
        sink.remembered_ids(),
        window,
        "the guard holds the window, whatever the log's length"
    );
    let small = JsonlAuditSink::builder(&path)
        .with_replay_window(1000)
        .build()
        .unwrap();
    assert_eq!(small.remembered_ids(), 1000);
    let last = window + 25_000 - 1;
    let lines = line_count(&path);
    // The window's oldest and newest IDs are dropped ...
    for id in [format!("r{last}"), format!("r{}", last - 999)] {
        small.record(&identified(&id)).await.unwrap();
    }
    assert_eq!(line_count(&path), lines);
    // ... the line before it is not remembered.
    small
        .record(&identified(&format!("r{}", last - 1000)))
        .await
        .unwrap();
    assert_eq!(line_count(&path), lines + 1);
    assert_eq!(small.remembered_ids(), 1000, "bounded while writing too");
}

#[test]
fn a_replay_window_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = JsonlAuditSink::builder(dir.path().join("audit.jsonl"))
        .with_replay_window(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            AuditError::InvalidOption {
                option: "replay_window",
                ..
            }
        ),
        "{error:?}"
    );
}
