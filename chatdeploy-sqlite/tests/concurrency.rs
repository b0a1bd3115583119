#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! One store used by many tasks at once (as one bot's handlers and
//! supervisors use it): revision checks and locks hold, and nobody sees
//! "busy". A second store on the same file is refused: SQLite keeps the
//! state of exactly one process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatdeploy_core::ids::{EventId, UserId};
use chatdeploy_core::state::{
    LockAttempt, LockHolder, ReleaseRecord, ServiceLock, Stage, StateError, StateStore, contract,
};
use chatdeploy_sqlite::SqliteStateStore;
use chrono::Utc;
use tokio::task::JoinSet;

/// Two handles of one store (clones share the database).
fn two_stores() -> (tempfile::TempDir, [Arc<SqliteStateStore>; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let a = Arc::new(SqliteStateStore::open(&path).unwrap());
    let b = Arc::new((*a).clone());
    (dir, [a, b])
}

#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_and_points_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatdeploy.db");
    let first = SqliteStateStore::open(&path).unwrap();
    let error = SqliteStateStore::open(&path).unwrap_err();
    assert!(
        matches!(error, chatdeploy_sqlite::OpenStateError::InUse { .. }),
        "{error:?}"
    );
    let sentence = error.to_string();
    assert!(
        sentence.contains("in use by another chatdeploy process"),
        "{sentence}"
    );
    assert!(sentence.contains("postgres://"), "{sentence}");
    assert!(chatdeploy_sqlite::SqliteAuditSink::open(&path).is_err());

    // Reading beside the owner works; writing through the reader does not.
    let reader = SqliteStateStore::open_read_only(&path).unwrap();
    assert!(reader.in_flight().await.unwrap().is_empty());
    let later = Utc::now() + chrono::Duration::hours(1);
    assert!(
        reader
            .remember_event(&EventId::new("ev"), later)
            .await
            .is_err()
    );

    // Once the owner is gone, the file is free again.
    drop(first);
    SqliteStateStore::open(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revision_checked_round_has_exactly_one_winner_across_two_stores() {
    let (_dir, stores) = two_stores();
    const RELEASES: usize = 8;
    const ROUNDS: u64 = 10;
    const CONTENDERS: usize = 6;
    for r in 0..RELEASES {
        let record = contract::sample_deployment(&format!("d-cas-{r}"), &format!("svc-{r}"), 0);
        stores[r % 2].create_deployment(&record).await.unwrap();
    }
    let mut releases = JoinSet::new();
    for r in 0..RELEASES {
        let stores = stores.clone();
        releases.spawn(async move {
            let id = format!("d-cas-{r}").into();
            for round in 0..ROUNDS {
                let current = stores[0].deployment(&id).await.unwrap().unwrap();
                assert_eq!(current.revision, round);
                let mut contenders = JoinSet::new();
                for c in 0..CONTENDERS {
                    let store = Arc::clone(&stores[c % 2]);
                    let mut attempt = current.clone();
                    attempt.failure = Some(format!("round {round} writer {c}"));
                    contenders.spawn(async move { store.update_deployment(&attempt).await });
                }
                let mut winners = 0;
                while let Some(result) = contenders.join_next().await {
                    match result.unwrap() {
                        Ok(updated) => {
                            winners += 1;
                            assert_eq!(updated.revision, round + 1);
                        }
                        Err(StateError::Conflict { expected, .. }) => assert_eq!(expected, round),
                        Err(other) => panic!("only conflicts may lose: {other}"),
                    }
                }
                assert_eq!(winners, 1, "release {r} round {round}");
            }
        });
    }
    while let Some(result) = releases.join_next().await {
        result.unwrap();
    }
    for r in 0..RELEASES {
        let id = format!("d-cas-{r}").into();
        let stored = stores[1].deployment(&id).await.unwrap().unwrap();
        assert_eq!(stored.revision, ROUNDS);
    }
}

fn holder(n: usize) -> LockHolder {
    LockHolder::Release {
        deployment: format!("d-lock-{n}").into(),
        version: format!("r-{n}"),
        requester: UserId::new(format!("U{n:02}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_lock_is_exclusive_across_two_stores() {
    let (_dir, stores) = two_stores();
    const ROUNDS: usize = 10;
    const CONTENDERS: usize = 8;
    for round in 0..ROUNDS {
        let mut tasks = JoinSet::new();
        for c in 0..CONTENDERS {
            let store = Arc::clone(&stores[c % 2]);
            let lock = ServiceLock {
                service: "app".into(),
                holder: holder(round * CONTENDERS + c),
                since: Utc::now(),
            };
            tasks.spawn(async move { (lock.clone(), store.try_lock(&lock).await.unwrap()) });
        }
        let mut winners = Vec::new();
        let mut held_by = Vec::new();
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                (lock, LockAttempt::Acquired) => winners.push(lock),
                (_, LockAttempt::Held(held)) => held_by.push(held),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        let winner = winners.pop().unwrap();
        assert!(held_by.iter().all(|held| *held == winner));
        assert_eq!(
            stores[round % 2].lock("app").await.unwrap(),
            Some(winner.clone())
        );
        // Only the holder releases it, from either store.
        let other = holder(usize::MAX);
        assert_eq!(stores[0].unlock("app", &other).await.unwrap(), None);
        assert_eq!(
            stores[(round + 1) % 2]
                .unlock("app", &winner.holder)
                .await
                .unwrap(),
            Some(winner)
        );
    }
    assert!(stores[0].locks().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_releases_of_different_services_run_at_once_without_errors() {
    let (_dir, stores) = two_stores();
    const RELEASES: usize = 40;
    let mut tasks = JoinSet::new();
    for r in 0..RELEASES {
        let store = Arc::clone(&stores[r % 2]);
        tasks.spawn(async move {
            let service = format!("svc-{r}");
            let later = Utc::now() + chrono::Duration::hours(1);
            let event = EventId::new(format!("Ev-{r}"));
            assert!(store.remember_event(&event, later).await.unwrap());
            assert!(!store.remember_event(&event, later).await.unwrap());
            let mut record = contract::sample_deployment(&format!("d-many-{r}"), &service, 0);
            let lock = ServiceLock {
                service: service.clone(),
                holder: holder(r),
                since: Utc::now(),
            };
            assert_eq!(store.try_lock(&lock).await.unwrap(), LockAttempt::Acquired);
            store.create_deployment(&record).await.unwrap();
            for stage in [
                Stage::Starting,
                Stage::Running,
                Stage::AwaitingApproval,
                Stage::Running,
                Stage::Succeeded,
            ] {
                record.stage = stage;
                record = store.update_deployment(&record).await.unwrap();
            }
            store
                .append_history(&ReleaseRecord::from_finished(&record, Utc::now()))
                .await
                .unwrap();
            assert!(
                store
                    .unlock(&service, &lock.holder)
                    .await
                    .unwrap()
                    .is_some()
            );
            record.finalized = true;
            store.update_deployment(&record).await.unwrap();
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    assert!(stores[0].in_flight().await.unwrap().is_empty());
    assert!(stores[1].locks().await.unwrap().is_empty());
    for r in 0..RELEASES {
        let history = stores[r % 2]
            .history(&format!("svc-{r}"), 10)
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].outcome, Stage::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_longer_than_the_busy_timeout_is_waited_out() {
    let (dir, stores) = two_stores();
    // Another process holds the write lock for longer than SQLite's own
    // busy timeout (5 s); the store keeps retrying instead of failing.
    let path = dir.path().join("chatdeploy.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder_thread = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(6500));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    // Reads are not blocked by a writer in WAL mode.
    let started = Instant::now();
    assert!(stores[1].in_flight().await.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let record = contract::sample_deployment("d-busy", "busy", 0);
    stores[0].create_deployment(&record).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    holder_thread.join().unwrap();
    assert!(stores[1].deployment(&record.id).await.unwrap().is_some());
}
