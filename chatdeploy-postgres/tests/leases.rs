#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Two stores on one schema, as two replicas: leases and fenced writes
//! hold across both, and each one's change feed hears of the other's
//! writes (quickly, not its own, and again after its connection was
//! killed).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatdeploy_core::ids::{DeploymentId, UserId};
use chatdeploy_core::state::{
    ChangeFeed, DeploymentRecord, Lease, Stage, StateError, StateStore, contract,
};
use chatdeploy_postgres::PostgresStateStore;
use chrono::Utc;
use tokio::task::JoinSet;

/// The engine's lease TTL.
const TTL: Duration = Duration::from_secs(30);

async fn two_stores(db: &support::TestDb) -> (PostgresStateStore, PostgresStateStore) {
    (db.store().await, db.store().await)
}

/// The next ID on the feed, or `None` after `within`.
async fn next(feed: &mut ChangeFeed, within: Duration) -> Option<DeploymentId> {
    tokio::time::timeout(within, feed.recv())
        .await
        .ok()
        .flatten()
}

/// Writes `record` through `store` (a no-op change) and returns it.
async fn touch(store: &PostgresStateStore, record: &DeploymentRecord) -> DeploymentRecord {
    let current = store.deployment(&record.id).await.unwrap().unwrap();
    store.update_deployment(&current).await.unwrap()
}

/// The server sessions listening on `store`'s channel.
async fn listeners(admin: &tokio_postgres::Client, store: &PostgresStateStore) -> Vec<i32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()",
            &[&format!("LISTEN \"{}\"", store.change_channel())],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_lease_held_by_one_replica_blocks_the_other_until_it_lapses() {
    let db = db_or_skip!("a_lease_blocks_the_other_replica");
    let (a, b) = two_stores(&db).await;
    let record = contract::sample_deployment("d-two", "app", 0);
    a.create_deployment(&record).await.unwrap();
    let now = Utc::now();

    let held = a.claim(&record.id, "replica-a", now, TTL).await.unwrap();
    let held = held.expect("a free release can be claimed");
    assert_eq!(
        b.claim(&record.id, "replica-b", now, TTL).await.unwrap(),
        None
    );
    assert!(
        !b.claimable("replica-b", now)
            .await
            .unwrap()
            .contains(&record.id)
    );
    let renewed = a
        .renew(&held, now + chrono::Duration::seconds(20), TTL)
        .await
        .unwrap();
    assert_eq!(renewed.fence, held.fence);
    let before_lapse = held.expires_at + chrono::Duration::seconds(1);
    assert_eq!(
        b.claim(&record.id, "replica-b", before_lapse, TTL)
            .await
            .unwrap(),
        None,
        "the renewal moved the expiry"
    );
    let mut next_stage = record.clone();
    next_stage.stage = Stage::Starting;
    let saved = a
        .update_fenced(&next_stage, &renewed, before_lapse)
        .await
        .unwrap();

    // A pauses past its lease; B takes over with a higher fence.
    let lapsed = renewed.expires_at + chrono::Duration::milliseconds(1);
    assert!(
        b.claimable("replica-b", lapsed)
            .await
            .unwrap()
            .contains(&record.id)
    );
    let taken = b
        .claim(&record.id, "replica-b", lapsed, TTL)
        .await
        .unwrap()
        .expect("a lapsed lease can be taken over");
    assert!(taken.fence > renewed.fence);
    assert!(
        !a.claimable("replica-a", lapsed)
            .await
            .unwrap()
            .contains(&record.id)
    );

    // A, awake again, can neither write nor renew, even with a clock that
    // still believes in its lease.
    let mut late = saved.clone();
    late.stage = Stage::Running;
    for at in [lapsed, before_lapse] {
        let error = a.update_fenced(&late, &renewed, at).await.unwrap_err();
        assert!(matches!(error, StateError::LeaseLost { ref owner, .. } if owner == "replica-a"));
    }
    assert!(matches!(
        a.renew(&renewed, before_lapse, TTL).await,
        Err(StateError::LeaseLost { .. })
    ));
    assert_eq!(
        a.claim(&record.id, "replica-a", lapsed, TTL).await.unwrap(),
        None
    );
    assert_eq!(
        a.deployment(&record.id).await.unwrap().unwrap().stage,
        Stage::Starting,
        "the lost owner wrote nothing"
    );
    // B writes under its lease; A's give-up of its old lease changes nothing.
    a.release_lease(&renewed).await.unwrap();
    let written = b.update_fenced(&late, &taken, lapsed).await.unwrap();
    assert_eq!(written.stage, Stage::Running);
    b.release_lease(&taken).await.unwrap();
    let again = a
        .claim(&record.id, "replica-a", lapsed, TTL)
        .await
        .unwrap()
        .expect("a lease given up is free at once");
    assert!(again.fence > taken.fence, "fences only grow");
    db.cleanup().await;
}

#[tokio::test]
async fn fenced_writes_tell_a_lost_lease_from_a_conflict_and_a_missing_release() {
    let db = db_or_skip!("fenced_writes_tell_errors_apart");
    let (a, b) = two_stores(&db).await;
    let record = contract::sample_deployment("d-fenced", "app", 0);
    a.create_deployment(&record).await.unwrap();
    let now = Utc::now();
    let lease = a
        .claim(&record.id, "replica-a", now, TTL)
        .await
        .unwrap()
        .unwrap();
    // Another replica records a decision (unfenced): the owner's stale
    // revision conflicts, its lease still holds.
    let mut decided = record.clone();
    decided.cancelled_by = Some(UserId::new("U02"));
    b.update_deployment(&decided).await.unwrap();
    assert!(matches!(
        a.update_fenced(&record, &lease, now).await,
        Err(StateError::Conflict { expected: 0, .. })
    ));
    let fresh = a.deployment(&record.id).await.unwrap().unwrap();
    assert_eq!(
        a.update_fenced(&fresh, &lease, now).await.unwrap().revision,
        2
    );

    // A lease on a release that does not exist: not found.
    let missing = contract::sample_deployment("d-missing", "app", 0);
    let ghost = a
        .claim(&missing.id, "replica-a", now, TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        a.update_fenced(&missing, &ghost, now).await,
        Err(StateError::NotFound { .. })
    ));
    // A lease of another release does not cover this one.
    assert!(matches!(
        a.update_fenced(&fresh, &ghost, now).await,
        Err(StateError::LeaseLost { .. })
    ));
    // A forged lease (right owner, wrong fence) neither.
    let forged = Lease {
        fence: lease.fence + 1,
        ..lease.clone()
    };
    assert!(matches!(
        a.update_fenced(&fresh, &forged, now).await,
        Err(StateError::LeaseLost { .. })
    ));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_two_replicas_grant_one_lease() {
    let db = db_or_skip!("concurrent_claims_grant_one_lease");
    let (a, b) = two_stores(&db).await;
    let stores = [Arc::new(a), Arc::new(b)];
    for round in 0..8 {
        let record = contract::sample_deployment(&format!("d-race-{round}"), "app", round);
        stores[0].create_deployment(&record).await.unwrap();
        let now = Utc::now();
        let mut claims = JoinSet::new();
        for contender in 0..8 {
            let store = Arc::clone(&stores[contender % 2]);
            let id = record.id.clone();
            claims.spawn(async move {
                store
                    .claim(&id, &format!("replica-{contender}"), now, TTL)
                    .await
            });
        }
        let mut granted = Vec::new();
        while let Some(result) = claims.join_next().await {
            granted.extend(result.unwrap().unwrap());
        }
        assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
        assert_eq!(granted[0].fence, 1);
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replicas_write_reaches_the_feed_within_a_second() {
    let db = db_or_skip!("another_replicas_write_reaches_the_feed");
    let (a, b) = two_stores(&db).await;
    let mut feed = b.changes().await.unwrap().expect("PostgreSQL has a feed");
    let record = contract::sample_deployment("d-feed", "app", 0);
    a.create_deployment(&record).await.unwrap();
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(record.id.clone()),
        "a new release is announced"
    );
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        touch(&a, &record).await;
        let got = next(&mut feed, Duration::from_secs(1)).await;
        let latency = started.elapsed();
        assert_eq!(got, Some(record.id.clone()), "within a second");
        latencies.push(latency);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    eprintln!(
        "change notification latency (read + update through A until B's feed has the ID): \
         median {median:?}, max {max:?} over {} writes",
        latencies.len()
    );
    assert!(max < Duration::from_secs(1), "{max:?}");
    assert_eq!(next(&mut feed, Duration::from_millis(100)).await, None);
    db.cleanup().await;
}

#[tokio::test]
async fn a_feed_skips_its_own_stores_writes_and_hears_everyone_elses() {
    let db = db_or_skip!("a_feed_skips_its_own_stores_writes");
    let (a, b) = two_stores(&db).await;
    let admin = db.admin().await;
    let mut feed = a.changes().await.unwrap().unwrap();
    let own = contract::sample_deployment("d-own", "app", 0);
    let other = contract::sample_deployment("d-other", "app", 1);
    // A's own writes, then B's: notifications arrive in commit order, so
    // the first one on A's feed being B's shows that A's were skipped.
    a.create_deployment(&own).await.unwrap();
    touch(&a, &own).await;
    // A clone shares the pool, and so the writer.
    touch(&a.clone(), &own).await;
    b.create_deployment(&other).await.unwrap();
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(other.id.clone())
    );
    // A session that is no store's (an operator's psql) reaches every feed.
    admin
        .execute(
            &format!(
                "UPDATE \"{}\".deployments SET record = record WHERE id = $1",
                db.schema()
            ),
            &[&own.id.as_str()],
        )
        .await
        .unwrap();
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(own.id.clone())
    );
    touch(&a, &own).await;
    assert_eq!(next(&mut feed, Duration::from_millis(300)).await, None);
    // Each call opens a feed of its own.
    let mut second = a.changes().await.unwrap().unwrap();
    touch(&b, &other).await;
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(other.id.clone())
    );
    assert_eq!(
        next(&mut second, Duration::from_secs(1)).await,
        Some(other.id.clone())
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reconnects_after_the_server_kills_its_connection() {
    let db = db_or_skip!("the_feed_reconnects_after_a_kill");
    let (a, b) = two_stores(&db).await;
    let admin = db.admin().await;
    let mut feed = b.changes().await.unwrap().unwrap();
    let record = contract::sample_deployment("d-kill", "app", 0);
    a.create_deployment(&record).await.unwrap();
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(record.id.clone())
    );
    let before = listeners(&admin, &b).await;
    assert_eq!(before.len(), 1, "one listening session: {before:?}");
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&before[0]])
        .await
        .unwrap()
        .get(0);
    assert!(killed);

    // Writes made before the feed is back may be lost; keep writing until
    // one arrives.
    let started = Instant::now();
    loop {
        touch(&a, &record).await;
        if let Some(id) = next(&mut feed, Duration::from_millis(200)).await {
            assert_eq!(id, record.id);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the feed did not come back"
        );
    }
    eprintln!(
        "the feed delivered again {:?} after the kill",
        started.elapsed()
    );
    let after = listeners(&admin, &b).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new session");
    // And it keeps delivering promptly.
    while next(&mut feed, Duration::from_millis(100)).await.is_some() {}
    touch(&a, &record).await;
    assert_eq!(
        next(&mut feed, Duration::from_secs(1)).await,
        Some(record.id.clone())
    );
    db.cleanup().await;
}

#[tokio::test]
async fn a_feed_ends_when_its_receiver_is_dropped_or_its_store_is_closed() {
    let db = db_or_skip!("a_feed_ends_when_dropped_or_closed");
    let store = db.store().await;
    let admin = db.admin().await;
    let feed = store.changes().await.unwrap().unwrap();
    assert_eq!(listeners(&admin, &store).await.len(), 1);
    drop(feed);
    let started = Instant::now();
    while !listeners(&admin, &store).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still listening"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut feed = store.changes().await.unwrap().unwrap();
    store.close();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), feed.recv())
            .await
            .expect("the feed ends"),
        None
    );
    let error = store.changes().await.unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_feed_that_cannot_connect_fails_with_what_happened() {
    let db = db_or_skip!("a_feed_that_cannot_connect");
    let admin = db.admin().await;
    let role = format!("r_{}", db.schema());
    let role = &role[..role.len().min(63)];
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}'; \
             GRANT CREATE ON DATABASE chatdeploy_test TO \"{role}\";"
        ))
        .await
        .unwrap();
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let url = format!(
        "postgres://{role}:pw-{role}@127.0.0.1:{}/chatdeploy_test",
        config.get_ports()[0]
    );
    let store = PostgresStateStore::builder()
        .with_url(&url)
        .with_schema(db.schema())
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    // The pool keeps its one connection; the feed's would be a second.
    admin
        .batch_execute(&format!("ALTER ROLE \"{role}\" CONNECTION LIMIT 1"))
        .await
        .unwrap();
    let error = store.changes().await.unwrap_err();
    let StateError::Unavailable { message, .. } = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        message.contains("listening for release changes"),
        "{message}"
    );
    assert!(message.contains("too many connections"), "{message}");
    store.locks().await.unwrap();
    store.close();
    drop(store);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA \"{s}\" CASCADE; \
             REVOKE CREATE ON DATABASE chatdeploy_test FROM \"{role}\"; DROP ROLE \"{role}\";",
            s = db.schema()
        ))
        .await
        .unwrap();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_fences_out_the_old_owners_writes_in_flight() {
    let db = db_or_skip!("a_takeover_fences_out_writes_in_flight");
    let (a, b) = two_stores(&db).await;
    let a = Arc::new(a);
    for round in 0..10 {
        let record = contract::sample_deployment(&format!("d-takeover-{round}"), "app", round);
        a.create_deployment(&record).await.unwrap();
        let now = Utc::now();
        let lease = a
            .claim(&record.id, "replica-a", now, TTL)
            .await
            .unwrap()
            .unwrap();
        // A writes as fast as it can, its clock still inside its lease.
        let wrote = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = {
            let a = Arc::clone(&a);
            let id = record.id.clone();
            let wrote = Arc::clone(&wrote);
            tokio::spawn(async move {
                let mut written = Vec::new();
                loop {
                    let mut current = a.deployment(&id).await.unwrap().unwrap();
                    current.failure = Some(format!("write {}", current.revision));
                    match a.update_fenced(&current, &lease, now).await {
                        Ok(saved) => {
                            written.push(saved.revision);
                            wrote.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(StateError::LeaseLost { .. }) => return written,
                        Err(other) => panic!("{other}"),
                    }
                }
            })
        };
        // Take over mid-stream: after A's first write (a loaded machine may
        // schedule A late), then a little later each round.
        while wrote.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(3 * u64::try_from(round).unwrap())).await;
        // B's clock says the lease lapsed: it takes over, then reads.
        let lapsed = now + chrono::Duration::seconds(31);
        let taken = b
            .claim(&record.id, "replica-b", lapsed, TTL)
            .await
            .unwrap()
            .unwrap();
        let seen = b.deployment(&record.id).await.unwrap().unwrap();
        let written = writer.await.unwrap();
        assert!(
            !written.is_empty(),
            "round {round}: A wrote before the takeover"
        );
        assert!(
            written.iter().all(|revision| *revision <= seen.revision),
            "round {round}: A wrote revision {:?} after B took over at revision {}",
            written.last(),
            seen.revision
        );
        assert_eq!(
            b.deployment(&record.id).await.unwrap().unwrap(),
            seen,
            "nothing changed after the takeover"
        );
        b.update_fenced(&seen, &taken, lapsed).await.unwrap();
    }
    db.cleanup().await;
}

/// Waits until a statement of this schema starting with `start` waits for
/// a lock, or `task` finished (returns `false` then).
async fn waits_for_a_lock<T>(
    admin: &tokio_postgres::Client,
    schema: &str,
    start: &str,
    task: &tokio::task::JoinHandle<T>,
) -> bool {
    let started = Instant::now();
    loop {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND starts_with(query, $1) AND strpos(query, $2) > 0",
                &[&start, &schema],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return true;
        }
        if task.is_finished() {
            return false;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{start}: neither waits nor ends"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_the_old_owners_write_in_flight() {
    let db = db_or_skip!("a_takeover_waits_for_a_write_in_flight");
    let (a, b) = two_stores(&db).await;
    let s = db.schema().to_owned();
    let record = contract::sample_deployment("d-in-flight", "app", 0);
    a.create_deployment(&record).await.unwrap();
    let now = Utc::now();
    let lease = a
        .claim(&record.id, "replica-a", now, TTL)
        .await
        .unwrap()
        .unwrap();
    // A third session holds the release's row, so that A's fenced write,
    // its lease checked, stays in flight.
    let mut blocker = db.admin().await;
    let hold = blocker.transaction().await.unwrap();
    hold.execute(
        &format!("SELECT 1 FROM \"{s}\".deployments WHERE id = $1 FOR UPDATE"),
        &[&record.id.as_str()],
    )
    .await
    .unwrap();
    let admin = db.admin().await;
    let write = {
        let mut next = record.clone();
        next.stage = Stage::Starting;
        tokio::spawn(async move { a.update_fenced(&next, &lease, now).await })
    };
    assert!(waits_for_a_lock(&admin, &s, "WITH lease AS", &write).await);

    // B's clock says A's lease lapsed; its claim must wait for A's write.
    let lapsed = now + chrono::Duration::seconds(31);
    let claim = tokio::spawn(async move {
        let taken = b.claim(&record.id, "replica-b", lapsed, TTL).await.unwrap();
        let seen = b.deployment(&record.id).await.unwrap().unwrap();
        (taken, seen)
    });
    assert!(
        waits_for_a_lock(&admin, &s, &format!("INSERT INTO \"{s}\".leases"), &claim).await,
        "the takeover did not wait for the fenced write in flight"
    );
    hold.commit().await.unwrap();
    let written = write.await.unwrap().unwrap();
    let (taken, seen) = claim.await.unwrap();
    assert!(taken.unwrap().fence > 1);
    assert_eq!(seen, written, "the new owner reads what the old one wrote");
    db.cleanup().await;
}
