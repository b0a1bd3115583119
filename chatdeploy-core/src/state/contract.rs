//! The behaviour every [`StateStore`] must have, as reusable checks: run
//! [`run_all`] against a new store implementation's empty instance.
//!
//! The checks panic on the first violation (they are test code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use chrono::{Duration, TimeZone, Utc};
use uuid::Uuid;

use super::{
    DeploymentRecord, Lease, LockAttempt, LockHolder, ReleaseKind, ReleaseRecord, ServiceLock,
    Stage, StateError, StateStore,
};
use crate::ids::{DeploymentId, EventId, UserId};

/// A release record in stage `Requested`, requested `minutes` after a fixed
/// epoch, for tests.
pub fn sample_deployment(id: &str, service: &str, minutes: i64) -> DeploymentRecord {
    let requested_at =
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes);
    DeploymentRecord {
        id: DeploymentId::new(id),
        kind: ReleaseKind::Deploy,
        service: service.to_owned(),
        version: "r-1.0.0".to_owned(),
        environment: "production".to_owned(),
        ticket: None,
        requester: UserId::new("U01"),
        channel: "C01".into(),
        thread: Some("1700000000.000001".into()),
        status_message: None,
        source_event: EventId::new(format!("Ev-{id}")),
        idempotency_token: Uuid::nil(),
        execution: None,
        stage: Stage::Requested,
        requested_at,
        started_at: None,
        ended_at: None,
        approval: None,
        approved_by: Vec::new(),
        cancelled_by: None,
        failure: None,
        gate: None,
        bypassed: None,
        watch_problem: None,
        finalized: false,
        revision: 0,
    }
}

/// Runs every check below against `store`, which must start empty.
pub async fn run_all<S: StateStore + ?Sized>(store: &S) {
    deduplicates_events(store).await;
    locks_are_exclusive_and_reentrant(store).await;
    updates_are_revision_checked(store).await;
    in_flight_lists_unfinished_oldest_first(store).await;
    history_is_idempotent_newest_first_and_limited(store).await;
    leases_are_exclusive_until_they_lapse(store).await;
    writes_and_renewals_need_the_current_lease(store).await;
    claimable_lists_unfinished_releases_nobody_holds(store).await;
}

/// The lease TTL of the lease checks.
const TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// One owner at a time; the holder renews by claiming again; once the lease
/// lapses (or is given up) another owner gets it with a higher fence.
pub async fn leases_are_exclusive_until_they_lapse<S: StateStore + ?Sized>(store: &S) {
    let record = sample_deployment("d-lease-1", "lease-svc", 0);
    store.create_deployment(&record).await.unwrap();
    let now = Utc::now();
    let a = store
        .claim(&record.id, "replica-a", now, TTL)
        .await
        .unwrap();
    let a = a.expect("a free release can be claimed");
    assert_eq!(a.owner, "replica-a");
    assert!(a.expires_at > now);
    assert_eq!(
        store
            .claim(&record.id, "replica-b", now, TTL)
            .await
            .unwrap(),
        None,
        "another owner's current lease is exclusive"
    );
    let again = store
        .claim(&record.id, "replica-a", now + Duration::seconds(5), TTL)
        .await
        .unwrap()
        .expect("the holder claims again");
    assert_eq!(again.fence, a.fence, "renewing keeps the fence");
    assert!(again.expires_at > a.expires_at);

    let lapsed = again.expires_at + Duration::seconds(1);
    let b = store
        .claim(&record.id, "replica-b", lapsed, TTL)
        .await
        .unwrap()
        .expect("a lapsed lease can be taken over");
    assert!(b.fence > a.fence, "a new owner gets a higher fence");

    store.release_lease(&b).await.unwrap();
    let c = store
        .claim(&record.id, "replica-c", lapsed, TTL)
        .await
        .unwrap()
        .expect("a lease given up is free at once");
    assert!(c.fence > b.fence);
    // Giving up a lease one no longer holds changes nothing.
    store.release_lease(&b).await.unwrap();
    assert_eq!(
        store
            .claim(&record.id, "replica-d", lapsed, TTL)
            .await
            .unwrap(),
        None
    );
}

/// Renewals and fenced writes work for the current holder only: not after
/// the lease lapsed, and not with an old fence after another took over.
pub async fn writes_and_renewals_need_the_current_lease<S: StateStore + ?Sized>(store: &S) {
    let record = sample_deployment("d-lease-2", "lease-svc", 1);
    store.create_deployment(&record).await.unwrap();
    let now = Utc::now();
    let a = store
        .claim(&record.id, "replica-a", now, TTL)
        .await
        .unwrap()
        .unwrap();
    let renewed = store
        .renew(&a, now + Duration::seconds(10), TTL)
        .await
        .unwrap();
    assert!(renewed.expires_at > a.expires_at);
    let mut next = record.clone();
    next.stage = Stage::Starting;
    let saved = store
        .update_fenced(&next, &renewed, now + Duration::seconds(11))
        .await
        .unwrap();
    assert_eq!(saved.revision, 1);

    let lapsed = renewed.expires_at + Duration::seconds(1);
    let mut late = saved.clone();
    late.stage = Stage::Running;
    assert!(matches!(
        store.update_fenced(&late, &renewed, lapsed).await,
        Err(StateError::LeaseLost { .. })
    ));
    assert!(matches!(
        store.renew(&renewed, lapsed, TTL).await,
        Err(StateError::LeaseLost { .. })
    ));
    let b = store
        .claim(&record.id, "replica-b", lapsed, TTL)
        .await
        .unwrap()
        .unwrap();
    // The old owner, awake again with a fresh read, still cannot write.
    let stale = Lease {
        expires_at: lapsed + Duration::hours(1),
        ..renewed.clone()
    };
    assert!(matches!(
        store.update_fenced(&late, &stale, lapsed).await,
        Err(StateError::LeaseLost { .. })
    ));
    let stored = store.deployment(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.stage, Stage::Starting, "nothing was written");
    store.update_fenced(&late, &b, lapsed).await.unwrap();
    // Unfenced writes (decisions recorded by any replica) still work.
    let mut decided = store.deployment(&record.id).await.unwrap().unwrap();
    decided.cancelled_by = Some(UserId::new("U02"));
    store.update_deployment(&decided).await.unwrap();
}

/// What a replica may take over: unfinished releases without a current
/// lease (or with its own), oldest first.
pub async fn claimable_lists_unfinished_releases_nobody_holds<S: StateStore + ?Sized>(store: &S) {
    let now = Utc::now();
    let free = sample_deployment("d-claim-free", "claim-svc", -30);
    let held = sample_deployment("d-claim-held", "claim-svc", -20);
    let mut done = sample_deployment("d-claim-done", "claim-svc", -10);
    done.finalized = true;
    for record in [&free, &held, &done] {
        store.create_deployment(record).await.unwrap();
    }
    store
        .claim(&held.id, "replica-a", now, TTL)
        .await
        .unwrap()
        .unwrap();
    let claimable = store.claimable("replica-b", now).await.unwrap();
    assert!(claimable.contains(&free.id), "{claimable:?}");
    assert!(!claimable.contains(&held.id), "{claimable:?}");
    assert!(!claimable.contains(&done.id), "{claimable:?}");
    // Its own releases, for a replica restarted under the same name.
    let own = store.claimable("replica-a", now).await.unwrap();
    assert!(own.contains(&held.id) && own.contains(&free.id), "{own:?}");
    let later = now + Duration::seconds(31);
    let claimable = store.claimable("replica-b", later).await.unwrap();
    assert!(
        claimable.contains(&held.id),
        "a lapsed lease frees the release"
    );
    let free_at = claimable.iter().position(|c| *c == free.id);
    let held_at = claimable.iter().position(|c| *c == held.id);
    assert!(free_at < held_at, "oldest first: {claimable:?}");
}

/// An event ID is new once, then a redelivery until it expires.
pub async fn deduplicates_events<S: StateStore + ?Sized>(store: &S) {
    let later = Utc::now() + Duration::hours(1);
    let event = EventId::new("contract-event-1");
    assert!(store.remember_event(&event, later).await.unwrap());
    assert!(!store.remember_event(&event, later).await.unwrap());
    let expired = EventId::new("contract-event-expired");
    let past = Utc::now() - Duration::seconds(1);
    assert!(store.remember_event(&expired, past).await.unwrap());
    assert!(
        store.remember_event(&expired, later).await.unwrap(),
        "an expired event ID counts as new"
    );
}

/// One holder per service; the same holder may take it again; only the
/// holder releases it.
pub async fn locks_are_exclusive_and_reentrant<S: StateStore + ?Sized>(store: &S) {
    let release = ServiceLock {
        service: "contract-svc".into(),
        holder: LockHolder::Release {
            deployment: "d-1".into(),
            version: "r-1".into(),
            requester: "U01".into(),
        },
        since: Utc::now(),
    };
    let manual = ServiceLock {
        service: "contract-svc".into(),
        holder: LockHolder::Manual {
            by: "U02".into(),
            reason: Some("freeze".into()),
        },
        since: Utc::now(),
    };
    assert_eq!(
        store.try_lock(&release).await.unwrap(),
        LockAttempt::Acquired
    );
    assert_eq!(
        store.try_lock(&release).await.unwrap(),
        LockAttempt::Acquired
    );
    assert_eq!(
        store.try_lock(&manual).await.unwrap(),
        LockAttempt::Held(release.clone())
    );
    assert_eq!(
        store.lock("contract-svc").await.unwrap(),
        Some(release.clone())
    );
    assert!(store.locks().await.unwrap().contains(&release));
    assert_eq!(
        store.unlock("contract-svc", &manual.holder).await.unwrap(),
        None
    );
    assert_eq!(
        store.unlock("contract-svc", &release.holder).await.unwrap(),
        Some(release.clone())
    );
    assert_eq!(store.lock("contract-svc").await.unwrap(), None);
    assert_eq!(
        store.try_lock(&manual).await.unwrap(),
        LockAttempt::Acquired
    );
    assert!(
        store
            .unlock("contract-svc", &manual.holder)
            .await
            .unwrap()
            .is_some()
    );
}

/// Creation is exclusive; an update must carry the stored revision, and
/// of many concurrent updates from the same revision exactly one wins.
pub async fn updates_are_revision_checked<S: StateStore + ?Sized>(store: &S) {
    let record = sample_deployment("contract-d-rev", "contract-rev", 0);
    store.create_deployment(&record).await.unwrap();
    assert!(matches!(
        store.create_deployment(&record).await,
        Err(StateError::AlreadyExists { .. })
    ));
    let mut changed = record.clone();
    changed.stage = Stage::Running;
    let updated = store.update_deployment(&changed).await.unwrap();
    assert_eq!(updated.revision, record.revision + 1);
    assert_eq!(updated.stage, Stage::Running);
    assert!(matches!(
        store.update_deployment(&changed).await,
        Err(StateError::Conflict { .. })
    ));
    assert_eq!(
        store.deployment(&record.id).await.unwrap(),
        Some(updated.clone())
    );

    let attempts = (0..16).map(|i| {
        let mut attempt = updated.clone();
        attempt.failure = Some(format!("writer {i}"));
        async move { store.update_deployment(&attempt).await }
    });
    let results = futures_join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);

    let missing = sample_deployment("contract-missing", "x", 0);
    assert!(matches!(
        store.update_deployment(&missing).await,
        Err(StateError::NotFound { .. })
    ));
}

/// `in_flight` skips finalized releases (but not merely terminal ones) and
/// is ordered by request time.
pub async fn in_flight_lists_unfinished_oldest_first<S: StateStore + ?Sized>(store: &S) {
    let newer = sample_deployment("contract-d-newer", "contract-if", 20);
    let mut older = sample_deployment("contract-d-older", "contract-if", 10);
    older.stage = Stage::Succeeded;
    let mut done = sample_deployment("contract-d-done", "contract-if", 5);
    done.stage = Stage::Succeeded;
    done.finalized = true;
    for record in [&newer, &older, &done] {
        store.create_deployment(record).await.unwrap();
    }
    let ids: Vec<String> = store
        .in_flight()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.service == "contract-if")
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(ids, ["contract-d-older", "contract-d-newer"]);
}

/// History keeps one entry per release, newest first, per service.
pub async fn history_is_idempotent_newest_first_and_limited<S: StateStore + ?Sized>(store: &S) {
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for (i, version) in ["r-1", "r-2", "r-3"].iter().enumerate() {
        let mut record = sample_deployment(&format!("contract-h-{i}"), "contract-h", 0);
        record.version = (*version).to_owned();
        record.stage = Stage::Succeeded;
        let i = i64::try_from(i).unwrap();
        let entry = ReleaseRecord::from_finished(&record, base + Duration::minutes(i));
        store.append_history(&entry).await.unwrap();
        store.append_history(&entry).await.unwrap();
    }
    let versions: Vec<String> = store
        .history("contract-h", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, ["r-3", "r-2", "r-1"]);
    assert_eq!(store.history("contract-h", 2).await.unwrap().len(), 2);
    assert!(store.history("contract-none", 10).await.unwrap().is_empty());
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in outputs.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => *slot = Some(out),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
