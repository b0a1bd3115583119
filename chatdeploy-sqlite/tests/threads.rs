#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! A burst of store calls runs on a few threads: SQLite writes one at a
//! time, so a thread per waiting call (tokio's blocking pool grows to 512)
//! would only add threads, not speed. Every call still completes.
//!
//! Alone in its test binary: it counts the process's threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatdeploy_core::ids::EventId;
use chatdeploy_core::state::StateStore;
use chatdeploy_sqlite::SqliteStateStore;
use chrono::Utc;
use tokio::task::JoinSet;

const CALLS: usize = 500;
/// Two runtime workers, the store's few, the harness's own, and room to
/// spare: far below one thread per waiting call.
const MAX_THREADS: usize = 24;

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_runs_on_a_bounded_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStateStore::open(dir.path().join("chatdeploy.db")).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let done = Arc::clone(&done);
        async move {
            let mut most = threads();
            while !done.load(Ordering::SeqCst) {
                most = most.max(threads());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        }
    });

    // Each a durable write (synced to disk), all at once.
    let expires = Utc::now() + chrono::Duration::hours(1);
    let mut calls = JoinSet::new();
    for n in 0..CALLS {
        let store = Arc::clone(&store);
        calls.spawn(async move {
            store
                .remember_event(&EventId::new(format!("ev-{n}")), expires)
                .await
        });
    }
    let mut new = 0;
    while let Some(result) = calls.join_next().await {
        new += usize::from(result.unwrap().unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let most = sampler.await.unwrap();

    assert_eq!(new, CALLS, "every call completed and recorded its event");
    assert!(
        most < MAX_THREADS,
        "{most} threads at most during the burst"
    );
    println!("{CALLS} concurrent writes, {most} threads at most");
}
