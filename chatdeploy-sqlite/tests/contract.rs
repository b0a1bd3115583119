#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The state store and audit sink contracts, and the audit sink's own
//! promises.

use std::path::Path;

use chatdeploy_core::audit::{self, AuditAction, AuditEvent, AuditSink};
use chatdeploy_core::ids::DeploymentId;
use chatdeploy_core::state::{StateStore, contract};
use chatdeploy_sqlite::{SqliteAuditSink, SqliteStateStore};

#[tokio::test]
async fn a_file_store_satisfies_the_state_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(dir.path().join("state.db")).unwrap();
    contract::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_store_satisfies_the_contract_on_the_multi_threaded_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(dir.path().join("state.db")).unwrap();
    contract::run_all(&store).await;
}

#[tokio::test]
async fn an_in_memory_store_satisfies_the_state_store_contract() {
    contract::run_all(&SqliteStateStore::open_in_memory().unwrap()).await;
}

#[tokio::test]
async fn the_store_works_behind_a_trait_object() {
    let dir = tempfile::tempdir().unwrap();
    let store: Box<dyn StateStore> =
        Box::new(SqliteStateStore::open(dir.path().join("state.db")).unwrap());
    contract::run_all(&store).await;
}

#[test]
fn the_store_works_outside_a_tokio_runtime() {
    // Without a runtime the blocking calls run inline.
    let store = SqliteStateStore::open_in_memory().unwrap();
    let lock = chatdeploy_core::state::ServiceLock {
        service: "app".into(),
        holder: chatdeploy_core::state::LockHolder::Manual {
            by: "U01".into(),
            reason: None,
        },
        since: chrono::Utc::now(),
    };
    let attempt = futures_block_on(store.try_lock(&lock)).unwrap();
    assert_eq!(attempt, chatdeploy_core::state::LockAttempt::Acquired);
}

/// A sink on `path` whose `audit` table is then dropped behind its back, so
/// every write fails.
fn broken_audit_sink(path: &Path) -> SqliteAuditSink {
    let sink = SqliteAuditSink::open(path).unwrap();
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("DROP TABLE audit")
        .unwrap();
    sink
}

#[tokio::test]
async fn the_audit_sink_satisfies_the_audit_contract() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db")).unwrap();
    let broken = broken_audit_sink(&dir.path().join("broken.db"));
    audit::contract::run_all(&sink, async || sink.events().await.unwrap(), &broken).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_databases_audit_sink_satisfies_it_on_the_multi_threaded_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(dir.path().join("state.db")).unwrap();
    let sink = store.audit_sink();
    let broken = broken_audit_sink(&dir.path().join("broken.db"));
    audit::contract::run_all(&sink, async || sink.events().await.unwrap(), &broken).await;
    // Reopened, the file still holds one record per ID.
    let path = sink.path().to_path_buf();
    drop((sink, store));
    let reopened = SqliteAuditSink::open(&path).unwrap();
    audit::contract::a_repeated_id_is_kept_once(&reopened, async || {
        reopened.events().await.unwrap()
    })
    .await;
}

fn event(id: &str, deployment: Option<&str>) -> AuditEvent {
    let mut event = AuditEvent::new(AuditAction::Started, Some("U01".into())).with_id(id);
    event.deployment = deployment.map(DeploymentId::new);
    event.service = Some("app".into());
    event
}

async fn audit_keeps_each_record_once_in_order(sink: &SqliteAuditSink) {
    let first = event("d-1:requested", Some("d-1"));
    let second = event("d-2:requested", Some("d-2"));
    let third = event("d-1:started", Some("d-1"));
    let loose = event("lock-1", None);
    for e in [&first, &second, &first, &third, &loose, &third] {
        sink.record(e).await.unwrap();
    }
    let ids: Vec<String> = sink
        .events()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        ["d-1:requested", "d-2:requested", "d-1:started", "lock-1"]
    );
    let for_d1 = sink.events_for(&DeploymentId::new("d-1")).await.unwrap();
    assert_eq!(for_d1, [first, third]);
    assert!(
        sink.events_for(&DeploymentId::new("d-9"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_audit_sink_keeps_each_record_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db")).unwrap();
    audit_keeps_each_record_once_in_order(&sink).await;
}

#[tokio::test]
async fn the_audit_sink_shares_the_state_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStateStore::open(&path).unwrap();
    let sink = store.audit_sink();
    assert_eq!(sink.path(), path);
    audit_keeps_each_record_once_in_order(&sink).await;
    // A second sink of the same store sees the same records.
    let other = store.audit_sink();
    assert_eq!(other.events().await.unwrap().len(), 4);
    contract::run_all(&store).await;
}

#[tokio::test]
async fn concurrent_copies_of_one_audit_record_leave_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = SqliteAuditSink::open(&path).unwrap();
    let b = a.clone();
    let record = event("d-7:signalled", Some("d-7"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let sink = if i % 2 == 0 { a.clone() } else { b.clone() };
        let record = record.clone();
        tasks.spawn(async move { sink.record(&record).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(a.events().await.unwrap(), [record]);
}

/// Polls a future to completion on this thread (no runtime).
fn futures_block_on<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
