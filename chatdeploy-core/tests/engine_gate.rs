//! The approval gate: a service whose approval lives in its document never
//! starts without an approval step the bot may answer, and an execution
//! that still runs without one is reported as a bypass. Also: a backend
//! that cannot be read, or reports a status chatdeploy does not know, is
//! said in the thread instead of retried silently.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use chatdeploy_core::audit::AuditAction;
use chatdeploy_core::backend::ExecutionStatus;
use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::state::{Stage, StateStore};
use chatdeploy_core::testing::{FakeStep, ScriptedBackend};
use support::{ALICE, BOB, Harness, released};

const CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]
[services.plain]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-Plain"
approval = "document"
parameters = { ReleaseVersion = "{version}" }
[services.branchy]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-Branchy"
approval = "document"
parameters = { ReleaseVersion = "{version}" }
[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}" }
"#;

fn backend() -> ScriptedBackend {
    let secs = Duration::from_secs;
    ScriptedBackend::new()
        .with_document("Deploy-Plain", vec![FakeStep::Run("Rollout", secs(5))])
        .with_document(
            "Deploy-Branchy",
            vec![
                FakeStep::Run("Prepare", secs(2)),
                FakeStep::SkippedApprove("Approve"),
                FakeStep::Run("Rollout", secs(5)),
            ],
        )
        .with_document(
            "Deploy-App",
            vec![
                FakeStep::Run("Prepare", secs(2)),
                FakeStep::Approve("Approve"),
                FakeStep::Run("Rollout", secs(60)),
            ],
        )
}

#[tokio::test(start_paused = true)]
async fn a_document_without_an_approval_step_never_starts() {
    let h = Harness::custom(CONFIG, backend());
    let id = released(h.say(ALICE, "deploy plain r-1.0.0").await);
    h.settle().await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Failed);
    assert_eq!(h.backend.executions(), 0, "nothing started");
    let thread = h.thread_text(&h.thread(&id).await);
    assert!(
        thread.contains("Not started: document Deploy-Plain has no approval step"),
        "{thread}"
    );
    assert!(thread.contains("aws:approve"), "says what to fix: {thread}");
    assert_eq!(h.count(AuditAction::StartFailed), 1);
    assert_eq!(h.count(AuditAction::Started), 0);
    assert!(h.state.lock("plain").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_document_the_bot_cannot_approve_never_starts() {
    let h = Harness::custom(CONFIG, backend());
    h.backend.set_bot_is_approver(false);
    let id = released(h.say(ALICE, "deploy app r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Failed);
    assert_eq!(h.backend.executions(), 0);
    let thread = h.thread_text(&h.thread(&id).await);
    assert!(
        thread.contains("is not an approver of document Deploy-App's approval step Approve"),
        "{thread}"
    );
    assert!(
        thread.contains("add the bot's role to the step's Approvers"),
        "{thread}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_execution_that_skips_its_approval_step_is_reported_as_a_bypass() {
    let h = Harness::custom(CONFIG, backend());
    let id = released(h.say(ALICE, "deploy branchy r-1.0.0").await);
    h.wait(Duration::from_secs(60)).await;
    let record = h.record(&id).await;
    assert_eq!(
        record.stage,
        Stage::Succeeded,
        "the backend says it succeeded"
    );
    assert!(record.bypassed.is_some());
    let summary = h.thread(&id).await.pop().unwrap();
    assert!(
        summary.text.to_string().starts_with("APPROVAL BYPASSED:"),
        "{}",
        summary.text
    );
    let plain = summary.to_plain_text();
    assert!(
        plain.contains("without ever waiting at an approval step"),
        "{plain}"
    );
    assert!(plain.contains("Approve"), "names the step: {plain}");
    assert!(!plain.contains("Approved by"), "{plain}");
    assert_eq!(h.count(AuditAction::ApprovalBypassed), 1);
    let history = h.state.history("branchy", 1).await.unwrap();
    assert!(history[0].bypassed.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_release_cancelled_before_its_approval_step_is_no_bypass() {
    let h = Harness::custom(CONFIG, backend());
    let id = released(h.say(ALICE, "deploy app r-1.0.0").await);
    // Cancelled during the first step, before the approval step.
    h.say(ALICE, &format!("cancel {id}")).await;
    h.wait(Duration::from_secs(60)).await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Cancelled);
    assert_eq!(record.bypassed, None);
    assert_eq!(h.count(AuditAction::ApprovalBypassed), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_execution_is_said_in_the_thread_then_cleared() {
    let h = Harness::custom(CONFIG, backend());
    let id = released(h.say(ALICE, "deploy app r-1.0.0").await);
    h.settle().await;
    h.click(BOB, ButtonAction::Approve, &id).await;
    // Into the minute-long rollout (not settled: that waits for the end).
    tokio::time::sleep(Duration::from_secs(5)).await;
    h.backend.set_unreadable(Some(
        "User: arn:aws:sts::1:assumed-role/chatdeploy/s is not authorized to perform: \
         ssm:GetAutomationExecution",
    ));
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    let thread = h.thread_text(&h.thread(&id).await);
    assert!(
        thread.contains("chatdeploy cannot read execution exec-1"),
        "{thread}"
    );
    assert!(
        thread.contains("ssm:GetAutomationExecution"),
        "AWS's words kept: {thread}"
    );
    assert_eq!(
        h.record(&id).await.stage,
        Stage::Running,
        "no outcome is made up"
    );

    h.backend.set_unreadable(None);
    h.wait(Duration::from_secs(5 * 60)).await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Succeeded);
    let thread = h.thread_text(&h.thread(&id).await);
    assert!(
        thread.contains("can read execution exec-1 again"),
        "{thread}"
    );
    let notices = thread.matches("chatdeploy cannot read execution").count();
    assert_eq!(notices, 1, "said once, not at every retry: {thread}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_status_is_said_and_ends_the_release_at_its_deadline() {
    let h = Harness::custom(CONFIG, backend());
    let id = released(h.say(ALICE, "deploy app r-1.0.0").await);
    h.settle().await;
    h.click(BOB, ButtonAction::Approve, &id).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let execution = h.record(&id).await.execution.unwrap();
    h.backend
        .override_status(&execution, Some(ExecutionStatus::Unknown("Exited".into())));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let thread = h.thread_text(&h.thread(&id).await);
    assert!(
        thread.contains("AWS reports status Exited for execution exec-1"),
        "{thread}"
    );
    assert_eq!(h.record(&id).await.stage, Stage::Running);

    h.wait(Duration::from_secs(20 * 60)).await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Failed);
    assert!(record.finalized);
    assert!(
        record.failure.as_deref().unwrap().contains("status Exited"),
        "{record:?}"
    );
    assert!(h.state.lock("app").await.unwrap().is_none());
}
