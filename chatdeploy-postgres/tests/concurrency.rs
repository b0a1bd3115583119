#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Two stores on one database (as two replicas would be): revision checks,
//! event deduplication and locks hold across both, and they share
//! everything; expired event IDs are swept.

mod support;

use std::sync::Arc;

use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink};
use chatdeploy_core::ids::{EventId, UserId};
use chatdeploy_core::state::{
    LockAttempt, LockHolder, ReleaseRecord, ServiceLock, Stage, StateError, StateStore, contract,
};
use chatdeploy_postgres::PostgresStateStore;
use chrono::{Duration, Utc};
use tokio::task::JoinSet;

async fn two_stores(db: &support::TestDb) -> [Arc<PostgresStateStore>; 2] {
    let a = Arc::new(db.builder().with_pool_size(8).build().await.unwrap());
    let b = Arc::new(db.builder().with_pool_size(8).build().await.unwrap());
    [a, b]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revision_checked_round_has_exactly_one_winner_across_two_stores() {
    let db = db_or_skip!("each_revision_round_has_one_winner");
    let stores = two_stores(&db).await;
    const RELEASES: usize = 4;
    const ROUNDS: u64 = 10;
    const CONTENDERS: usize = 12;
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
                let mut winners = Vec::new();
                while let Some(result) = contenders.join_next().await {
                    match result.unwrap() {
                        Ok(updated) => {
                            assert_eq!(updated.revision, round + 1);
                            winners.push(updated);
                        }
                        Err(StateError::Conflict { expected, .. }) => assert_eq!(expected, round),
                        Err(other) => panic!("only conflicts may lose: {other}"),
                    }
                }
                assert_eq!(winners.len(), 1, "release {r} round {round}");
                // What is stored is exactly the winner's record.
                let stored = stores[1].deployment(&id).await.unwrap().unwrap();
                assert_eq!(stored, winners[0]);
            }
        });
    }
    while let Some(result) = releases.join_next().await {
        result.unwrap();
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_id_delivered_many_times_at_once_is_new_exactly_once() {
    let db = db_or_skip!("one_event_id_is_new_exactly_once");
    let stores = two_stores(&db).await;
    let later = Utc::now() + Duration::hours(1);
    for round in 0..10 {
        let event = EventId::new(format!("Ev-race-{round}"));
        let mut tasks = JoinSet::new();
        for i in 0..32 {
            let store = Arc::clone(&stores[i % 2]);
            let event = event.clone();
            tasks.spawn(async move { store.remember_event(&event, later).await.unwrap() });
        }
        let mut new = 0;
        while let Some(result) = tasks.join_next().await {
            new += usize::from(result.unwrap());
        }
        assert_eq!(new, 1, "round {round}");
    }
    // An expired ID is new again exactly once, however many race for it.
    let expired = EventId::new("Ev-expired-race");
    assert!(
        stores[0]
            .remember_event(&expired, Utc::now() - Duration::seconds(1))
            .await
            .unwrap()
    );
    let mut tasks = JoinSet::new();
    for i in 0..32 {
        let store = Arc::clone(&stores[i % 2]);
        let expired = expired.clone();
        tasks.spawn(async move { store.remember_event(&expired, later).await.unwrap() });
    }
    let mut new = 0;
    while let Some(result) = tasks.join_next().await {
        new += usize::from(result.unwrap());
    }
    assert_eq!(new, 1);
    db.cleanup().await;
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
    let db = db_or_skip!("a_service_lock_is_exclusive");
    let stores = two_stores(&db).await;
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
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_everything() {
    let db = db_or_skip!("two_stores_share_everything");
    let [a, b] = two_stores(&db).await;
    let later = Utc::now() + Duration::hours(1);
    assert!(a.remember_event(&"Ev-1".into(), later).await.unwrap());
    assert!(!b.remember_event(&"Ev-1".into(), later).await.unwrap());

    let lock = ServiceLock {
        service: "app".into(),
        holder: LockHolder::Manual {
            by: "U02".into(),
            reason: Some("freeze".into()),
        },
        since: Utc::now(),
    };
    assert_eq!(a.try_lock(&lock).await.unwrap(), LockAttempt::Acquired);
    assert_eq!(b.lock("app").await.unwrap(), Some(lock.clone()));
    assert_eq!(b.locks().await.unwrap(), std::slice::from_ref(&lock));
    assert_eq!(b.try_lock(&lock).await.unwrap(), LockAttempt::Acquired);

    let mut record = contract::sample_deployment("d-shared", "app", 0);
    a.create_deployment(&record).await.unwrap();
    assert_eq!(
        b.deployment(&record.id).await.unwrap(),
        Some(record.clone())
    );
    record.stage = Stage::Running;
    let updated = b.update_deployment(&record).await.unwrap();
    assert_eq!(a.in_flight().await.unwrap(), std::slice::from_ref(&updated));
    assert!(matches!(
        a.update_deployment(&record).await,
        Err(StateError::Conflict { .. })
    ));

    let mut finished = updated;
    finished.stage = Stage::Succeeded;
    let entry = ReleaseRecord::from_finished(&finished, Utc::now());
    a.append_history(&entry).await.unwrap();
    b.append_history(&entry).await.unwrap();
    assert_eq!(b.history("app", 10).await.unwrap(), [entry]);

    let audit = AuditEvent::new(AuditAction::Locked, Some("U02".into())).with_id("lock-app-1");
    a.audit_sink().record(&audit).await.unwrap();
    b.audit_sink().record(&audit).await.unwrap();
    assert_eq!(b.audit_sink().events().await.unwrap(), [audit]);

    assert_eq!(b.unlock("app", &lock.holder).await.unwrap(), Some(lock));
    assert_eq!(a.lock("app").await.unwrap(), None);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_releases_run_at_once_across_two_stores_without_errors() {
    let db = db_or_skip!("many_releases_run_at_once");
    let stores = two_stores(&db).await;
    const RELEASES: usize = 40;
    let mut tasks = JoinSet::new();
    for r in 0..RELEASES {
        let store = Arc::clone(&stores[r % 2]);
        tasks.spawn(async move {
            let service = format!("svc-{r}");
            let later = Utc::now() + Duration::hours(1);
            let event = EventId::new(format!("Ev-{r}"));
            assert!(store.remember_event(&event, later).await.unwrap());
            let mut record = contract::sample_deployment(&format!("d-many-{r}"), &service, 0);
            let lock = ServiceLock {
                service: service.clone(),
                holder: holder(r),
                since: Utc::now(),
            };
            assert_eq!(store.try_lock(&lock).await.unwrap(), LockAttempt::Acquired);
            store.create_deployment(&record).await.unwrap();
            for stage in [Stage::Starting, Stage::Running, Stage::Succeeded] {
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
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_event_ids_are_swept_in_the_background_and_on_demand() {
    let db = db_or_skip!("expired_event_ids_are_swept");
    let store = db.store().await;
    let admin = db.admin().await;
    let count = format!("SELECT count(*) FROM \"{}\".events", db.schema());
    let past = Utc::now() - Duration::seconds(1);
    let later = Utc::now() + Duration::hours(1);
    for i in 0..600 {
        store
            .remember_event(&EventId::new(format!("old-{i}")), past)
            .await
            .unwrap();
    }
    // Two background sweeps have started (after the 256th and 512th new ID).
    let mut left: i64 = 600;
    for _ in 0..100 {
        left = admin.query_one(&count, &[]).await.unwrap().get(0);
        if left <= 600 - 256 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(left <= 600 - 256, "{left} rows left");
    for i in 0..10 {
        store
            .remember_event(&EventId::new(format!("live-{i}")), later)
            .await
            .unwrap();
    }
    // Sweep the rest now (a background sweep may still hold some rows,
    // which it then deletes itself).
    store.sweep_expired_events().await.unwrap();
    let mut left: i64 = -1;
    for _ in 0..100 {
        left = admin.query_one(&count, &[]).await.unwrap().get(0);
        if left == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, 10, "only the live IDs stay");
    for i in 0..10 {
        assert!(
            !store
                .remember_event(&EventId::new(format!("live-{i}")), later)
                .await
                .unwrap()
        );
    }
    db.cleanup().await;
}
