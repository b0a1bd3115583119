//! Several replicas under faults: three real bot processes (`slack_ssm`)
//! share one PostgreSQL schema, the SSM emulator runs as its own process,
//! and the fake Slack delivers each event and click to a random replica,
//! over either transport:
//!
//! - Events API: signed HTTP requests, redelivered to another replica when
//!   one fails (connection refused, no answer within 3 s, not 200), as
//!   Slack retries.
//! - Socket Mode (the `socket_mode_*` tests): each replica holds a
//!   websocket to the fake Socket Mode server, which pushes each envelope
//!   to a random connection and pushes an envelope not acknowledged within
//!   3 s again, to another connection, as Slack does.
//!
//! See `support/replicas.rs`; the delivery seed is printed and
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
//! - Socket Mode: a stopped replica holds the envelopes pushed to it
//!   unacknowledged (its socket stays open); they are pushed again to
//!   another replica and processed there once, and when the stopped one
//!   is continued and reads them late, it acks them and does nothing
//!   more. Either a replica holds the request and the click before any
//!   release exists, or the stopped owner holds the click.
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
use support::replicas::{
    BOB, CHANNEL, Cluster, Delivery, LEASE_TTL, LIMIT, Row, Transport, print_table,
};

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
    /// SIGSTOP; once another replica took over, the approval click is
    /// delivered to the stopped owner first (it holds it unanswered, so
    /// Slack delivers it again to another replica); SIGCONT after the
    /// release finished elsewhere.
    PauseHoldingClick,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL owner (not restarted)",
            Self::PauseContinueBeforeClick => "SIGSTOP owner, SIGCONT after takeover",
            Self::PauseContinueAfterEnd => "SIGSTOP owner, SIGCONT after the end",
            Self::PauseHoldingClick => {
                "SIGSTOP owner, the click sent to it first (unacked), SIGCONT after the end"
            }
        }
    }
}

/// Where the approval click is delivered first.
#[derive(Debug, Clone, Copy)]
enum ClickAt<'a> {
    /// Wherever Slack's random choice goes.
    Anywhere,
    /// A running replica other than the owner.
    NonOwner,
    /// This replica (running or not).
    Replica(&'a str),
}

/// Clicks Approve (first at `at`) and measures the time from the click's
/// 200 (or ack) to the `signalled` audit record; under 2 s when the click
/// was taken by a replica other than the owner.
async fn approve(
    cluster: &Cluster,
    deployment: &DeploymentId,
    ts: &str,
    at: ClickAt<'_>,
) -> ((Duration, bool), Delivery) {
    let owner = cluster.lease(deployment).await.and_then(|l| l.owner);
    let other = cluster
        .running()
        .into_iter()
        .find(|r| Some(r) != owner.as_ref());
    let first = match at {
        ClickAt::Anywhere => None,
        ClickAt::NonOwner => other.as_deref(),
        ClickAt::Replica(name) => Some(name),
    };
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
    ((took, non_owner), click)
}

/// Runs one release through `fault` at `at`; `None` when skipped.
async fn case(test: &str, transport: Transport, at: At, fault: Fault) -> Option<Row> {
    let mut cluster = Cluster::start_with(test, transport).await?;
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
            row.click_to_signal = Some(
                approve(&cluster, &deployment, &ts, ClickAt::Anywhere)
                    .await
                    .0,
            );
        }
        At::Finishing => {
            let ts = cluster.wait_until_waiting(&deployment).await;
            row.click_to_signal = Some(
                approve(&cluster, &deployment, &ts, ClickAt::Anywhere)
                    .await
                    .0,
            );
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

    let mut held_click = None;
    if row.click_to_signal.is_none() {
        let ts = cluster.wait_until_waiting(&deployment).await;
        let first = match fault {
            Fault::PauseHoldingClick => ClickAt::Replica(&owner),
            _ => ClickAt::Anywhere,
        };
        let (measured, click) = approve(&cluster, &deployment, &ts, first).await;
        row.click_to_signal = Some(measured);
        if fault == Fault::PauseHoldingClick {
            assert_ne!(click.replica, owner, "the stopped owner took the click");
            assert!(
                click.attempts > 1,
                "the click was delivered again: {click:?}"
            );
            held_click = Some(click);
        }
    }
    let finished = cluster.wait_until_finished(&deployment).await;
    row.completion = finished - request.acked;
    if matches!(
        fault,
        Fault::PauseContinueAfterEnd | Fault::PauseHoldingClick
    ) {
        calls_since = cluster.slack_calls();
        cluster.resume(&owner);
    }
    if let Some(click) = &held_click
        && let Some(envelope) = &click.envelope_id
    {
        // Continued, it reads the click it held, acks it late, and drops
        // it as a repeat.
        wait_for_late_acks(&cluster, &owner, &[envelope]).await;
        wait_for_repeats_dropped(&cluster, &owner, 1).await;
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

/// Waits until `replica` acked each of `envelopes` (having read them
/// late, after the others took them).
async fn wait_for_late_acks(cluster: &Cluster, replica: &str, envelopes: &[&String]) {
    let start = Instant::now();
    for envelope in envelopes {
        while !cluster.acked_by(envelope).iter().any(|r| r == replica) {
            assert!(
                start.elapsed() < LIMIT,
                "{replica} never acked {envelope} it held: acked by {:?}",
                cluster.acked_by(envelope)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Waits until `replica` logged `n` events dropped as repeats.
async fn wait_for_repeats_dropped(cluster: &Cluster, replica: &str, n: usize) {
    let start = Instant::now();
    while cluster.dropped_repeats(replica) < n {
        assert!(
            start.elapsed() < LIMIT,
            "{replica} dropped {} of the {n} events it read late: {}",
            cluster.dropped_repeats(replica),
            cluster.log(replica)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cluster.dropped_repeats(replica),
        n,
        "{}",
        cluster.log(replica)
    );
}

async fn run(test: &str, transport: Transport, cases: &[(At, Fault)]) {
    let _turn = SERIAL.lock().await;
    let started = Instant::now();
    let mut rows = Vec::new();
    for (at, fault) in cases {
        match case(test, transport, *at, *fault).await {
            Some(row) => rows.push(row),
            None => return,
        }
    }
    print_table(&title(test, transport), &rows);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

/// A table's title: the test, and the transport when it is Socket Mode.
fn title(test: &str, transport: Transport) -> String {
    match transport {
        Transport::EventsApi => test.to_owned(),
        Transport::SocketMode => format!("{test} ({})", transport.label()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_request() {
    let test = "owner_killed_after_the_request";
    run(test, Transport::EventsApi, &[(At::Requested, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_start() {
    let test = "owner_killed_after_the_start";
    run(test, Transport::EventsApi, &[(At::Started, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_while_waiting_for_approval() {
    let test = "owner_killed_while_waiting_for_approval";
    run(test, Transport::EventsApi, &[(At::Waiting, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_after_the_approval_signal() {
    let test = "owner_killed_after_the_approval_signal";
    run(test, Transport::EventsApi, &[(At::Signalled, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_paused_past_its_lease() {
    let test = "owner_paused_past_its_lease";
    let cases = [
        (At::Waiting, Fault::PauseContinueBeforeClick),
        (At::Waiting, Fault::PauseContinueAfterEnd),
    ];
    run(test, Transport::EventsApi, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_stopped_while_posting_the_summary() {
    let test = "owner_stopped_while_posting_the_summary";
    let cases = [
        (At::Finishing, Fault::Kill),
        (At::Finishing, Fault::PauseContinueAfterEnd),
    ];
    run(test, Transport::EventsApi, &cases).await;
}

/// No fault: the click goes to a replica that does not own the release.
async fn click_at_a_non_owner(test: &str, transport: Transport) {
    let _turn = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start_with(test, transport).await else {
        return;
    };
    let event = format!("EvClick{}", cluster.seed % 100_000);
    let deployment = deployment_id_for(&EventId::new(&event));
    let request = cluster
        .deploy(&event, "r-99.1.0", "1700000001.000100")
        .await;
    let ts = cluster.wait_until_waiting(&deployment).await;
    let (owner, _) = cluster.wait_for_owner(&deployment).await;
    let (click, delivery) = approve(&cluster, &deployment, &ts, ClickAt::NonOwner).await;
    assert!(click.1, "the click went to a replica other than {owner}");
    assert_eq!(delivery.attempts, 1, "taken where it was delivered first");
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
    print_table(&title(test, transport), &[row]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_at_a_non_owner_is_signalled_within_two_seconds() {
    click_at_a_non_owner("click_at_a_non_owner", Transport::EventsApi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_owner_killed_after_the_request() {
    let test = "socket_mode_owner_killed_after_the_request";
    run(test, Transport::SocketMode, &[(At::Requested, Fault::Kill)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_owner_killed_while_waiting_for_approval() {
    let test = "socket_mode_owner_killed_while_waiting_for_approval";
    run(test, Transport::SocketMode, &[(At::Waiting, Fault::Kill)]).await;
}

/// A stopped replica's unacknowledged envelopes go to another replica and
/// are processed once: a replica stopped before the request holds the
/// request and the click; the stopped owner holds the click.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_a_stopped_replicas_envelopes_are_redelivered() {
    let test = "socket_mode_stopped_replica_holds_envelopes";
    let _turn = SERIAL.lock().await;
    let started = Instant::now();
    let Some(held) = stopped_replica_holds_the_request_and_the_click(test).await else {
        return;
    };
    let owner_held = case(
        test,
        Transport::SocketMode,
        At::Waiting,
        Fault::PauseHoldingClick,
    )
    .await
    .expect("PostgreSQL is still there");
    print_table(&title(test, Transport::SocketMode), &[held, owner_held]);
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_a_click_at_a_non_owner_is_signalled_within_two_seconds() {
    click_at_a_non_owner("socket_mode_click_at_a_non_owner", Transport::SocketMode).await;
}

/// A replica is stopped (SIGSTOP) before any release; the request and
/// later the click are pushed to its connection first. It holds them
/// unacknowledged, so each is pushed again, after Slack's 3 s, to another
/// replica, which takes it; the release completes through the others.
/// Continued after the end, the stopped replica reads both late, acks
/// them, and neither starts nor signals nor writes anything.
async fn stopped_replica_holds_the_request_and_the_click(test: &str) -> Option<Row> {
    let mut cluster = Cluster::start_with(test, Transport::SocketMode).await?;
    let event = format!("EvHeld{}", cluster.seed % 100_000);
    let deployment = deployment_id_for(&EventId::new(&event));
    let names = cluster.names();
    let held = names[(cluster.seed % names.len() as u64) as usize].clone();
    cluster.pause(&held);
    eprintln!("{test}: SIGSTOP {held}; the request and the click go to it first");
    let request = cluster
        .deploy_via(Some(&held), &event, "r-99.1.0", "1700000001.000100")
        .await;
    assert_ne!(request.replica, held);
    assert!(request.attempts > 1, "{request:?}");
    let ts = cluster.wait_until_waiting(&deployment).await;
    let (owner, _) = cluster.wait_for_owner(&deployment).await;
    assert_ne!(owner, held, "the stopped replica owns nothing");
    let requests_before = cluster.approval_requests();
    let (measured, click) = approve(&cluster, &deployment, &ts, ClickAt::Replica(&held)).await;
    assert_ne!(click.replica, held);
    assert!(click.attempts > 1, "{click:?}");
    let finished = cluster.wait_until_finished(&deployment).await;
    let envelopes = [&request, &click].map(|d| d.envelope_id.clone().expect("Socket Mode"));
    for envelope in &envelopes {
        let pushed = cluster.pushed_to(envelope);
        eprintln!(
            "{test}: {envelope} pushed to {pushed:?}, acked by {:?}",
            cluster.acked_by(envelope)
        );
        assert_eq!(pushed[0], held);
    }

    let calls_since = cluster.slack_calls();
    cluster.resume(&held);
    wait_for_late_acks(&cluster, &held, &[&envelopes[0], &envelopes[1]]).await;
    // Its engine drops both as repeats: the others recorded them.
    wait_for_repeats_dropped(&cluster, &held, 2).await;
    // Give it the time of a few steps to do anything it still would.
    tokio::time::sleep(LEASE_TTL / 2).await;
    let writes: Vec<String> = cluster
        .writes_by(&held, calls_since)
        .into_iter()
        // An answer to the click it read late is a reply, not a release write.
        .filter(|w| !w.starts_with("chat.postEphemeral"))
        .collect();
    assert!(
        writes.is_empty(),
        "{held} wrote after reading late: {writes:?}"
    );
    assert_eq!(cluster.approval_requests(), requests_before);
    let mut row = Row {
        stage: "0 before the request".to_owned(),
        fault: "SIGSTOP a replica, the request and the click sent to it first (unacked), \
                SIGCONT after the end"
            .to_owned(),
        stored_stage: "not stored".to_owned(),
        click_to_signal: Some(measured),
        completion: finished - request.acked,
        ..Row::default()
    };
    cluster.stop_all();
    cluster.assert_completed_once(&mut row).await;
    Some(row)
}
