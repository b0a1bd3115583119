//! Several replicas under faults: three real bot processes (`slack_ssm`,
//! Events API) share one PostgreSQL schema, the SSM emulator runs as its own
//! process, and the fake Slack delivers each event and click to a random
//! replica, redelivering to another when one fails (connection refused,
//! no answer within 3 s, not 200), as Slack retries. See
//! `support/replicas.rs`; the delivery seed is printed and
//! `CHATDEPLOY_REPLICAS_SEED` replays it.
//!
//! - At each stage of a release (requested, started, waiting for approval,
//!   approval signalled) the replica that owns it (the lease holder in
//!   PostgreSQL) is killed with SIGKILL, and the release goes on through
//!   the two others. The killed replica is not restarted: under the same
//!   name it would take its releases back at once and hide the takeover
//!   by another replica (`restart_kill.rs` covers restarts).
//! - The owner is paused with SIGSTOP past its lease (3 s) and continued
//!   with SIGCONT once another replica took over (before the approval, or
//!   after the release finished): it must not write to the thread again
//!   (its fenced writes fail), nor signal or summarise a second time.
//! - A click that reaches a replica other than the owner is signalled
//!   within 2 s (the owner is woken through LISTEN/NOTIFY; it would
//!   otherwise poll only every 30 s).
//!
//! Every case checks: one execution, one approval signal, each lifecycle
//! audit record once, one summary, the lock released, nothing in flight,
//! and prints its results as a Markdown table. Without PostgreSQL
//! (`CHATDEPLOY_TEST_POSTGRES_URL`) the tests are skipped, unless
//! `CHATDEPLOY_REQUIRE_POSTGRES=1`. The cases run one at a time, so that
//! their timings do not compete for the cores.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::{Duration, Instant};

use chatdeploy::core::audit::AuditAction;
use chatdeploy::core::engine::deployment_id_for;
use chatdeploy::core::ids::{DeploymentId, EventId};
use chatdeploy::slack::fake::FakeFailure;
use support::replicas::{BOB, CHANNEL, Cluster, LEASE_TTL, Row, print_table};

/// One case at a time (see the module documentation).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The most a click at a non-owner may take to become the signal.
const CLICK_TO_SIGNAL: Duration = Duration::from_secs(2);

/// Where the fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// `requested` audited.
    Requested,
    /// `started` audited.
    Started,
    /// The approval request posted and stored.
    Waiting,
    /// `signalled` audited.
    Signalled,
    /// The outcome audited, the summary being posted (Slack answers its
    /// first post with 429 and `Retry-After: 2`, so the owner is inside the
    /// summary step when the fault hits).
    Finishing,
}

impl At {
    fn label(self) -> &'static str {
        match self {
            Self::Requested => "1 requested",
            Self::Started => "2 started",
            Self::Waiting => "3 waiting for approval",
            Self::Signalled => "4 approval signalled",
            Self::Finishing => "5 posting the summary (429)",
        }
    }
}

/// What happens to the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL, not restarted.
    Kill,
    /// SIGSTOP, then SIGCONT once another replica took over, before the
    /// approval click.
    PauseContinueBeforeClick,
    /// SIGSTOP, then SIGCONT after the release finished elsewhere.
    PauseContinueAfterEnd,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL owner (not restarted)",
            Self::PauseContinueBeforeClick => "SIGSTOP owner, SIGCONT after takeover",
            Self::PauseContinueAfterEnd => "SIGSTOP owner, SIGCONT after the end",
        }
    }
}

/// Clicks Approve (at a replica other than the owner when `at_non_owner`,
/// else wherever Slack's random choice goes) and measures the time from
/// the click's 200 to the `signalled` audit record; under 2 s when the
/// click did not reach the owner.
async fn approve(
    cluster: &Cluster,
    deployment: &DeploymentId,
    ts: &str,
    at_non_owner: bool,
) -> (Duration, bool) {
    let owner = cluster.lease(deployment).await.and_then(|l| l.owner);
    let other = cluster
        .running()
        .into_iter()
        .find(|r| Some(r) != owner.as_ref());
    let first = if at_non_owner { other.as_deref() } else { None };
    let click = cluster.approve(BOB, deployment.as_str(), ts, first).await;
    let signalled = cluster.wait_for_audit(AuditAction::Signalled).await;
    let took = signalled - click.acked;
    let non_owner = Some(&click.replica) != owner.as_ref();
    eprintln!(
        "click at {} (owner {owner:?}, {} attempt(s)) -> signalled after {:.0} ms",
        click.replica,
        click.attempts,
        took.as_secs_f64() * 1000.0
    );
    if non_owner {
        assert!(
            took < CLICK_TO_SIGNAL,
            "a click at non-owner {} took {took:?} to be signalled (owner {owner:?})",
            click.replica
        );
    }
    (took, non_owner)
}

/// Runs one release through `fault` at `at`; `None` when skipped.
async fn case(test: &str, at: At, fault: Fault) -> Option<Row> {
    let mut cluster = Cluster::start(test).await?;
    let event = format!("EvRep{}", cluster.seed % 100_000);
    let deployment = deployment_id_for(&EventId::new(&event));
    let mut row = Row {
        stage: at.label().to_owned(),
        fault: fault.label().to_owned(),
        ..Row::default()
    };
    let request = cluster
        .deploy(&event, "r-99.1.0", "1700000001.000100")
        .await;
    match at {
        At::Requested => _ = cluster.wait_for_audit(AuditAction::Requested).await,
        At::Started => _ = cluster.wait_for_audit(AuditAction::Started).await,
        At::Waiting => _ = cluster.wait_until_waiting(&deployment).await,
        At::Signalled => {
            let ts = cluster.wait_until_waiting(&deployment).await;
            row.click_to_signal = Some(approve(&cluster, &deployment, &ts, false).await);
        }
        At::Finishing => {
            let ts = cluster.wait_until_waiting(&deployment).await;
            row.click_to_signal = Some(approve(&cluster, &deployment, &ts, false).await);
            let busy = FakeFailure::RateLimited {
                retry_after_secs: 2,
            };
            cluster
                .slack
                .fail_next("chat.postMessage", Some(CHANNEL), busy);
            cluster.wait_for_audit(AuditAction::Succeeded).await;
        }
    }
    let (owner, fence) = cluster.wait_for_owner(&deployment).await;
    row.stored_stage = cluster.stored_stage(&deployment).await;
    let requests_before = cluster.approval_requests();
    let mut calls_since = cluster.slack_calls();
    let hit = Instant::now();
    match fault {
        Fault::Kill => cluster.kill(&owner),
        _ => cluster.pause(&owner),
    }
    eprintln!(
        "{test}: {fault:?} {owner} (fence {fence}) at {}",
        row.stored_stage
    );
    let (taken, successor) = cluster.wait_for_takeover(&deployment, fence).await;
    let takeover = taken - hit;
    row.takeover = Some(takeover);
    assert_ne!(successor.as_ref(), Some(&owner), "the lease passed on");
    // The lease lapses first (renewed every third of its TTL, so at least
    // two thirds of it remain at the fault), then the next sweep (every
    // third of the TTL) claims it.
    assert!(
        takeover > LEASE_TTL * 2 / 3 - Duration::from_millis(300),
        "{owner}'s live lease was taken after {takeover:?}"
    );
    assert!(
        takeover < LEASE_TTL + LEASE_TTL / 3 + Duration::from_secs(2),
        "takeover took {takeover:?}"
    );
    if fault == Fault::PauseContinueBeforeClick {
        cluster.resume(&owner);
    }

    if row.click_to_signal.is_none() {
        let ts = cluster.wait_until_waiting(&deployment).await;
        row.click_to_signal = Some(approve(&cluster, &deployment, &ts, false).await);
    }
    let finished = cluster.wait_until_finished(&deployment).await;
    row.completion = finished - request.acked;
    if fault == Fault::PauseContinueAfterEnd {
        calls_since = cluster.slack_calls();
        cluster.resume(&owner);
    }
    if fault != Fault::Kill {
        paused_owner_stands_down(&cluster, &owner, calls_since).await;
    }
    if matches!(at, At::Waiting | At::Signalled | At::Finishing) {
        // The request was stored before the fault: nobody posts another.
        assert_eq!(cluster.approval_requests(), requests_before);
    }
    cluster.stop_all();
    cluster.assert_completed_once(&mut row).await;
    Some(row)
}

/// The continued owner notices its lease is gone and stops without
/// writing to the thread (posts or edits) again.
async fn paused_owner_stands_down(cluster: &Cluster, owner: &str, calls_since: usize) {
    let start = Instant::now();
    while !cluster.log(owner).contains("another replica") {
        assert!(
            start.elapsed() < LEASE_TTL * 2,
            "{owner} did not notice it lost the release: {}",
            cluster.log(owner)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give it the time of a few steps to do anything it still would.
    tokio::time::sleep(LEASE_TTL / 2).await;
    let writes: Vec<String> = cluster
        .writes_by(owner, calls_since)
        .into_iter()
        // An answer to a click it received while paused (Slack had
        // redelivered it elsewhere) is a reply, not a release write.
        .filter(|w| !w.starts_with("chat.postEphemeral"))
        .collect();
    assert!(
        writes.is_empty(),
        "{owner} wrote after losing its lease: {writes:?}"
    );
}

async fn run(test: &str, title: &str, cases: &[(At, Fault)]) {
    let _turn = SERIAL.lock().await;
    let started = Instant::now();
    let mut rows = Vec::new();
    for (at, fault) in cases {
        match case(test, *at, *fault).await {
            Some(row) => rows.push(row),
            None => return,
        }
    }
    print_table(title, &rows);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_request() {
    let test = "owner_killed_after_the_request";
    run(test, test, &[(At::Requested, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_start() {
    let test = "owner_killed_after_the_start";
    run(test, test, &[(At::Started, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_while_waiting_for_approval() {
    let test = "owner_killed_while_waiting_for_approval";
    run(test, test, &[(At::Waiting, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_approval_signal() {
    let test = "owner_killed_after_the_approval_signal";
    run(test, test, &[(At::Signalled, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_paused_past_its_lease() {
    let test = "owner_paused_past_its_lease";
    let cases = [
        (At::Waiting, Fault::PauseContinueBeforeClick),
        (At::Waiting, Fault::PauseContinueAfterEnd),
    ];
    run(test, test, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_stopped_while_posting_the_summary() {
    let test = "owner_stopped_while_posting_the_summary";
    let cases = [
        (At::Finishing, Fault::Kill),
        (At::Finishing, Fault::PauseContinueAfterEnd),
    ];
    run(test, test, &cases).await;
}

/// No fault: the click goes to a replica that does not own the release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_at_a_non_owner_is_signalled_within_two_seconds() {
    let test = "click_at_a_non_owner";
    let _turn = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start(test).await else {
        return;
    };
    let event = format!("EvClick{}", cluster.seed % 100_000);
    let deployment = deployment_id_for(&EventId::new(&event));
    let request = cluster
        .deploy(&event, "r-99.1.0", "1700000001.000100")
        .await;
    let ts = cluster.wait_until_waiting(&deployment).await;
    let (owner, _) = cluster.wait_for_owner(&deployment).await;
    let click = approve(&cluster, &deployment, &ts, true).await;
    assert!(click.1, "the click went to a replica other than {owner}");
    let finished = cluster.wait_until_finished(&deployment).await;
    let mut row = Row {
        stage: "-".to_owned(),
        fault: "none (click at a non-owner)".to_owned(),
        stored_stage: "awaiting approval".to_owned(),
        click_to_signal: Some(click),
        completion: finished - request.acked,
        ..Row::default()
    };
    cluster.stop_all();
    cluster.assert_completed_once(&mut row).await;
    print_table(test, &[row]);
}
