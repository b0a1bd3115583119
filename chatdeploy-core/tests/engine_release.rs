//! Engine scenarios: a release from request to outcome, on the paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use chatdeploy_core::audit::AuditAction;
use chatdeploy_core::backend::Signal;
use chatdeploy_core::chat::{ButtonAction, ButtonStyle, StepState, Tone};
use chatdeploy_core::engine::Handled;
use chatdeploy_core::state::{LockHolder, Stage};
use support::{ALICE, BOB, CAROL, Harness, released};

#[tokio::test(start_paused = true)]
async fn happy_path_with_approval() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0 for CHG-12").await);
    h.settle().await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::AwaitingApproval);
    let execution = record.execution.clone().unwrap();
    let request = h.backend.request(&execution).unwrap();
    assert_eq!(request.document, "Deploy-App");
    assert_eq!(request.parameters["ReleaseVersion"], "r-99.1.0");
    assert_eq!(request.parameters["RequestedBy"], ALICE);
    assert_eq!(request.parameters["Target"], "production");

    // One status message and one approval request, in the thread.
    let thread = h.thread(&id).await;
    assert_eq!(thread.len(), 2, "{}", h.thread_text(&thread));
    let status = &thread[0];
    assert!(
        status.text.contains("waiting for approval at step Approve"),
        "{}",
        status.text
    );
    assert_eq!(status.steps[0].state, StepState::Done);
    assert_eq!(status.steps[1].state, StepState::WaitingForApproval);
    let ask = &thread[1];
    assert!(
        ask.text.contains("<@U0BOB>") && ask.text.contains("<@U0CAROL>"),
        "{}",
        ask.text
    );
    assert!(ask.text.contains("requested by <@U0ALICE>"), "{}", ask.text);
    assert_eq!(ask.buttons.len(), 2);
    assert_eq!(ask.buttons[0].action, ButtonAction::Approve);
    assert_eq!(ask.buttons[0].style, ButtonStyle::Primary);
    assert!(ask.buttons[0].confirm.is_some());
    assert_eq!(ask.buttons[1].style, ButtonStyle::Danger);

    assert_eq!(
        h.click(BOB, ButtonAction::Approve, &id).await,
        Handled::Accepted
    );
    h.settle().await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Succeeded);
    assert!(record.finalized);
    assert_eq!(record.approved_by, vec![BOB.into()]);
    assert_eq!(h.backend.signals(), vec![(execution, Signal::Approve)]);
    assert_eq!(h.backend.executions(), 1);
    assert!(
        h.state.lock("app").await.unwrap().is_none(),
        "lock released"
    );

    let thread = h.thread(&id).await;
    assert_eq!(thread.len(), 3, "status, approval request, summary");
    assert!(
        thread[0].text.contains("succeeded"),
        "status updated in place: {}",
        thread[0].text
    );
    assert!(
        thread[1].text.contains("approved by <@U0BOB>"),
        "{}",
        thread[1].text
    );
    assert!(thread[1].buttons.is_empty(), "buttons removed once decided");
    let summary = &thread[2];
    assert_eq!(summary.tone, Tone::Success);
    assert!(summary.text.contains("succeeded in"), "{}", summary.text);
    let plain = summary.to_plain_text();
    assert!(plain.contains("Approved by: <@U0BOB>"), "{plain}");
    assert!(plain.contains("Ticket: CHG-12"), "{plain}");
    assert!(
        plain.contains("https://github.com/acme/app/releases/tag/r-99.1.0"),
        "{plain}"
    );
    assert!(
        plain.contains("https://backend.example/executions/"),
        "{plain}"
    );

    assert_eq!(
        h.audit.actions(),
        vec![
            AuditAction::Requested,
            AuditAction::Started,
            AuditAction::ApprovalRequested,
            AuditAction::Approved,
            AuditAction::Signalled,
            AuditAction::ApprovalRecorded,
            AuditAction::Succeeded,
        ]
    );
    let history = h.state.history("app", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, Stage::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn rejection_stops_the_release() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    assert_eq!(
        h.say(CAROL, &format!("reject {id} smoke tests are red"))
            .await,
        Handled::Accepted
    );
    h.settle().await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Rejected);
    assert_eq!(h.backend.signals().len(), 1);
    assert_eq!(h.backend.signals()[0].1, Signal::Reject);
    let thread = h.thread(&id).await;
    assert!(
        thread[1].text.contains("rejected by <@U0CAROL>"),
        "{}",
        thread[1].text
    );
    assert!(thread[1].to_plain_text().contains("smoke tests are red"));
    assert!(
        thread[2].text.contains("was rejected by <@U0CAROL>"),
        "{}",
        thread[2].text
    );
    assert_eq!(
        h.count(AuditAction::Rejected),
        2,
        "the decision and the outcome"
    );
    assert!(h.state.lock("app").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn step_failure_reports_the_failing_step() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy broken r-1.0.0").await);
    h.settle().await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Failed);
    let failure = record.failure.clone().unwrap();
    assert_eq!(
        failure,
        "Step Rollout failed: exit status 1: health check failed"
    );
    let thread = h.thread(&id).await;
    let summary = thread.last().unwrap();
    assert_eq!(summary.tone, Tone::Failure);
    assert!(summary.text.contains("failed after"), "{}", summary.text);
    assert_eq!(summary.detail.as_deref(), Some(failure.as_str()));
    assert_eq!(thread[0].steps[1].state, StepState::Failed);
    assert_eq!(h.count(AuditAction::Failed), 1);
    assert!(h.state.lock("broken").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_running_release() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.say(ALICE, "cancel docs").await, Handled::Accepted);
    h.settle().await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Cancelled);
    assert_eq!(record.cancelled_by, Some(ALICE.into()));
    assert_eq!(h.backend.call_counts().3, 1, "one stop call");
    let summary = h.thread(&id).await.pop().unwrap();
    assert!(
        summary.text.contains("was cancelled by <@U0ALICE>"),
        "{}",
        summary.text
    );
    assert_eq!(h.count(AuditAction::CancelRequested), 1);
    assert_eq!(h.count(AuditAction::Cancelled), 1);
}

#[tokio::test(start_paused = true)]
async fn cancel_while_waiting_before_start_never_starts() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy ui r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::AwaitingApproval);
    assert_eq!(h.say(BOB, &format!("cancel {id}")).await, Handled::Accepted);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Cancelled);
    assert_eq!(h.backend.executions(), 0);
    let thread = h.thread(&id).await;
    assert!(
        thread[1].buttons.is_empty(),
        "the request no longer offers buttons"
    );
}

#[tokio::test(start_paused = true)]
async fn approval_timeout_rejects_and_reports() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    h.wait(Duration::from_secs(2 * 3600 + 60)).await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::TimedOut);
    let signals = h.backend.signals();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].1, Signal::Reject);
    let thread = h.thread(&id).await;
    assert!(
        thread[1].text.contains("nobody decided in time"),
        "{}",
        thread[1].text
    );
    assert!(thread[2].text.contains("timed out"), "{}", thread[2].text);
    assert_eq!(h.count(AuditAction::TimedOut), 1);
}

#[tokio::test(start_paused = true)]
async fn before_start_approval_gates_the_start() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy ui r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.backend.executions(), 0, "nothing starts before approval");
    let ask = h.thread(&id).await.pop().unwrap();
    assert!(
        ask.text.contains("approval needed before it starts"),
        "{}",
        ask.text
    );

    assert_eq!(
        h.click(CAROL, ButtonAction::Approve, &id).await,
        Handled::Accepted
    );
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h.backend.executions(), 1);
    assert!(
        h.backend.signals().is_empty(),
        "a before-start approval needs no backend signal"
    );
}

#[tokio::test(start_paused = true)]
async fn decided_outside_chat_is_noticed_and_audited() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    let execution = h.record(&id).await.execution.unwrap();
    assert!(
        h.backend
            .decide_outside(&execution, "arn:aws:iam::1:user/ops", Signal::Approve)
    );
    h.wait(Duration::from_secs(60)).await;

    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Succeeded);
    assert!(h.backend.signals().is_empty(), "the bot sent no signal");
    let ask = &h.thread(&id).await[1];
    assert!(
        ask.text
            .contains("approved by arn:aws:iam::1:user/ops in the AWS console"),
        "{}",
        ask.text
    );
    assert!(ask.buttons.is_empty());
    assert_eq!(h.count(AuditAction::DecidedOutsideChat), 1);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff() {
    let h = Harness::new();
    h.backend.throttle_next(6);
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h.backend.executions(), 1);
    assert_eq!(
        h.backend.call_counts().0,
        7,
        "six throttled starts, then one that worked"
    );
}

#[tokio::test(start_paused = true)]
async fn polling_slows_down_while_nothing_changes() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    let before = h.backend.call_counts().1;
    // An hour of waiting for approvers at most one poll per 30 s.
    h.wait(Duration::from_secs(3600)).await;
    let polls = h.backend.call_counts().1 - before;
    assert!(polls <= 3600 / 30 + 1, "{polls} polls in an hour");
    assert!(polls >= 60, "still watching: {polls}");
    // And no status update is sent while nothing changes.
    let updates_before = h.chat.calls().len();
    h.wait(Duration::from_secs(600)).await;
    assert_eq!(h.chat.calls().len(), updates_before);
    assert_eq!(h.record(&id).await.stage, Stage::AwaitingApproval);
}

#[tokio::test(start_paused = true)]
async fn a_refused_start_fails_the_release_with_the_reason() {
    let h = Harness::new();
    h.backend.refuse_starts("ReleaseVersion is required");
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.settle().await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Failed);
    assert!(
        record
            .failure
            .unwrap()
            .contains("ReleaseVersion is required")
    );
    assert_eq!(h.count(AuditAction::StartFailed), 1);
    assert!(h.state.lock("docs").await.unwrap().is_none());
    let _ = LockHolder::Manual {
        by: ALICE.into(),
        reason: None,
    };
}
