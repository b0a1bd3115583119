#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! A replica stopped in the middle of an operation (SIGSTOP, a frozen VM)
//! must not block the others: no operation keeps a row locked between its
//! round trips, and the server ends a session that sits inside a
//! transaction for longer than the operation timeout. Both are observed
//! from inside the store's own sessions, through triggers this test adds
//! to its schema.

mod support;

use std::time::Duration;

use chatdeploy_core::ids::UserId;
use chatdeploy_core::state::{LockHolder, ServiceLock, StateStore};
use chrono::Utc;

fn lock(n: u32) -> ServiceLock {
    ServiceLock {
        service: "app".into(),
        holder: LockHolder::Release {
            deployment: format!("d-stall-{n}").into(),
            version: format!("r-{n}.0.0"),
            requester: UserId::new("U01"),
        },
        since: Utc::now(),
    }
}

/// Adds a trigger on `table` that records, for every row about to be
/// written or deleted, `probe` evaluated in the writing session.
async fn probe(db: &support::TestDb, table: &str, event: &str, probe: &str) {
    let s = db.schema();
    db.admin()
        .await
        .batch_execute(&format!(
            "CREATE TABLE \"{s}\".probe (seen text NOT NULL);
             CREATE FUNCTION \"{s}\".probe() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO \"{s}\".probe VALUES (({probe})::text);
                 RETURN COALESCE(NEW, OLD);
             END $$;
             CREATE TRIGGER probe BEFORE {event} ON \"{s}\".{table}
                 FOR EACH ROW EXECUTE FUNCTION \"{s}\".probe();"
        ))
        .await
        .unwrap();
}

async fn seen(db: &support::TestDb) -> Vec<String> {
    db.admin()
        .await
        .query(&format!("SELECT seen FROM \"{}\".probe", db.schema()), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_holds_no_row_lock_between_its_round_trips() {
    let db = db_or_skip!("unlock_holds_no_row_lock");
    let store = db.store().await;
    // When the row goes, its transaction holds no row-share lock on the
    // table: the DELETE was not preceded by a `SELECT … FOR UPDATE`, whose
    // row lock a replica stopped between the two would keep holding.
    probe(
        &db,
        "locks",
        "DELETE",
        "NOT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() \
         AND relation = TG_RELID AND mode = 'RowShareLock')",
    )
    .await;

    let held = lock(1);
    store.try_lock(&held).await.unwrap();
    assert_eq!(store.unlock("app", &lock(2).holder).await.unwrap(), None);
    assert_eq!(store.lock("app").await.unwrap(), Some(held.clone()));
    assert_eq!(
        store.unlock("app", &held.holder).await.unwrap(),
        Some(held.clone())
    );
    assert_eq!(store.lock("app").await.unwrap(), None);
    assert_eq!(seen(&db).await, ["true"]);
    // Unlocking again, or a lock taken meanwhile by another holder, deletes
    // nothing.
    assert_eq!(store.unlock("app", &held.holder).await.unwrap(), None);
    let next = lock(3);
    store.try_lock(&next).await.unwrap();
    assert_eq!(store.unlock("app", &held.holder).await.unwrap(), None);
    assert_eq!(store.lock("app").await.unwrap(), Some(next));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_idle_in_a_transaction_end_after_the_operation_timeout() {
    let db = db_or_skip!("idle_in_transaction_timeout");
    let store = db
        .builder()
        .with_operation_timeout(Duration::from_millis(2500))
        .build()
        .await
        .unwrap();
    probe(
        &db,
        "locks",
        "INSERT",
        "(SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout')",
    )
    .await;
    store.try_lock(&lock(1)).await.unwrap();
    assert_eq!(seen(&db).await, ["2500"], "in milliseconds");
    db.cleanup().await;
}
