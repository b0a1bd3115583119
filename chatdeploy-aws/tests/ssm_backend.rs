#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! SsmBackend with the real SDK client against the emulator on loopback.

mod support;

use chatdeploy_core::backend::{BackendError, DeployBackend, ExecutionStatus, Signal, StepStatus};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_release_with_approval() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let request = request("r-99.1.0");
    let id = backend.start(&request).await.unwrap();

    let waiting = wait_for(&backend, &id, |s| s.status == ExecutionStatus::Waiting).await;
    let wait = waiting
        .waiting_for_approval
        .clone()
        .expect("an approval wait");
    assert_eq!(wait.step, "Approve");
    assert_eq!(
        wait.message.as_deref(),
        Some("Deploy r-99.1.0 to production?")
    );
    assert_eq!(wait.min_approvals, Some(1));
    let names: Vec<_> = waiting.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["UpdateParameter", "Settle", "Approve", "Rollout"]);
    assert_eq!(
        waiting.step("Settle").unwrap().status,
        StepStatus::Succeeded
    );
    assert_eq!(waiting.step("Approve").unwrap().status, StepStatus::Waiting);
    assert!(waiting.started_at.is_some());

    backend
        .signal(
            &id,
            Signal::Approve,
            "approved by <@U0BOB> in thread 1800000000.000001",
        )
        .await
        .unwrap();
    let done = wait_for(&backend, &id, |s| s.status.is_terminal()).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert!(done.waiting_for_approval.is_none());
    assert!(done.ended_at.is_some());
    let approve = done.step("Approve").unwrap();
    assert_eq!(approve.decisions.len(), 1);
    assert_eq!(
        approve.decisions[0].approver,
        chatdeploy_aws::emulator::DEFAULT_CALLER_ARN
    );
    assert_eq!(approve.decisions[0].decision, Signal::Approve);
    assert_eq!(
        approve.decisions[0].comment.as_deref(),
        Some("approved by <@U0BOB> in thread 1800000000.000001")
    );

    // What went over the wire: the tags, the token and the parameters.
    let start = &emulator.calls()[0];
    assert_eq!(start.operation, "StartAutomationExecution");
    assert_eq!(
        start.body["ClientToken"],
        request.idempotency_token.to_string()
    );
    assert_eq!(start.body["Parameters"]["ReleaseVersion"][0], "r-99.1.0");
    let tags: Vec<_> = start.body["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                t["Key"].as_str().unwrap(),
                t["Value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            "chatdeploy:service=app",
            "chatdeploy:version=r-99.1.0",
            "chatdeploy:deployment=dep-1",
            "chatdeploy:requester=U0ALICE"
        ]
    );
    assert_eq!(emulator.call_count("SendAutomationSignal"), 1);
    assert_eq!(emulator.executions(), 1);

    // The approval step no longer waits: SSM refuses a second signal (the
    // engine reads the execution again to tell this from a refusal).
    let late = backend
        .signal(&id, Signal::Approve, "again")
        .await
        .unwrap_err();
    assert!(
        matches!(late, BackendError::SignalRefused { .. }),
        "{late:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_fails_the_execution() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let id = backend.start(&request("r-1.0.0")).await.unwrap();
    wait_for(&backend, &id, |s| s.waiting_for_approval.is_some()).await;
    backend
        .signal(&id, Signal::Reject, "not today")
        .await
        .unwrap();
    let done = wait_for(&backend, &id, |s| s.status.is_terminal()).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert!(
        done.failure_message
            .as_deref()
            .unwrap()
            .contains("rejected")
    );
    let approve = done.step("Approve").unwrap();
    assert_eq!(approve.status, StepStatus::Failed);
    assert_eq!(approve.decisions[0].decision, Signal::Reject);
    assert_eq!(done.step("Rollout").unwrap().status, StepStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_execution() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let id = backend.start(&request("r-1.0.0")).await.unwrap();
    wait_for(&backend, &id, |s| s.waiting_for_approval.is_some()).await;
    backend.cancel(&id).await.unwrap();
    // As SSM does, the execution is Cancelling for a moment, then Cancelled.
    let cancelling = backend.snapshot(&id).await.unwrap();
    assert_eq!(cancelling.status, ExecutionStatus::Cancelling);
    assert_eq!(
        cancelling.step("Approve").unwrap().status,
        StepStatus::Waiting
    );
    let again = backend.cancel(&id).await.unwrap_err();
    assert!(
        matches!(again, BackendError::InvalidState { .. }),
        "{again:?}"
    );
    let done = wait_for(&backend, &id, |s| s.status.is_terminal()).await;
    assert_eq!(done.status, ExecutionStatus::Cancelled);
    assert_eq!(done.step("Approve").unwrap().status, StepStatus::Cancelled);
    assert!(done.ended_at.is_some());
    let again = backend.cancel(&id).await.unwrap_err();
    assert!(
        matches!(again, BackendError::InvalidState { .. }),
        "{again:?}"
    );
    let signal = backend
        .signal(&id, Signal::Approve, "late")
        .await
        .unwrap_err();
    assert!(
        matches!(signal, BackendError::SignalRefused { .. }),
        "{signal:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_failure_is_reported() {
    let emulator = emulator().await;
    emulator.fail_step(
        DOCUMENT,
        "UpdateParameter",
        "ParameterAlreadyExists: /app/release",
    );
    let backend = backend(&emulator);
    let id = backend.start(&request("r-1.0.0")).await.unwrap();
    let done = wait_for(&backend, &id, |s| s.status.is_terminal()).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    let failed = done.failed_step().unwrap();
    assert_eq!(failed.name, "UpdateParameter");
    assert_eq!(
        failed.failure_message.as_deref(),
        Some("ParameterAlreadyExists: /app/release")
    );
    assert!(
        done.failure_message
            .unwrap()
            .contains("ParameterAlreadyExists")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_is_idempotent_per_token() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let first = request("r-1.0.0");
    let a = backend.start(&first).await.unwrap();
    let b = backend.start(&first).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(emulator.executions(), 1);

    let mut changed = first.clone();
    changed
        .parameters
        .insert("ReleaseVersion".into(), "r-2.0.0".into());
    let err = backend.start(&changed).await.unwrap_err();
    match err {
        BackendError::IdempotencyMismatch { token } => {
            assert_eq!(token, first.idempotency_token.to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.executions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_validates_parameters_and_documents() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let mut missing = request("r-1.0.0");
    missing.parameters.remove("ReleaseVersion");
    let err = backend.start(&missing).await.unwrap_err();
    assert!(
        matches!(err, BackendError::InvalidParameters { ref message } if message.contains("ReleaseVersion")),
        "{err:?}"
    );

    let mut unknown = request("r-1.0.0");
    unknown.parameters.insert("Colour".into(), "blue".into());
    let err = backend.start(&unknown).await.unwrap_err();
    assert!(
        matches!(err, BackendError::InvalidParameters { .. }),
        "{err:?}"
    );

    let mut nodoc = request("r-1.0.0");
    nodoc.document = "Deploy-Nothing".into();
    let err = backend.start(&nodoc).await.unwrap_err();
    assert!(
        matches!(err, BackendError::NotFound { ref what } if what == "document Deploy-Nothing"),
        "{err:?}"
    );

    let err = backend.snapshot(&"nope".into()).await.unwrap_err();
    assert!(matches!(err, BackendError::NotFound { .. }), "{err:?}");
    assert_eq!(emulator.executions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_lists_document_parameters() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let description = backend.describe(DOCUMENT).await.unwrap();
    assert_eq!(description.name, DOCUMENT);
    assert_eq!(description.version.as_deref(), Some("1"));
    let release = description
        .parameters
        .iter()
        .find(|p| p.name == "ReleaseVersion")
        .unwrap();
    assert!(release.is_required());
    assert_eq!(release.kind, "String");
    let target = description
        .parameters
        .iter()
        .find(|p| p.name == "Target")
        .unwrap();
    assert_eq!(target.default_value.as_deref(), Some("production"));
    let err = backend.describe("Missing").await.unwrap_err();
    assert!(matches!(err, BackendError::NotFound { .. }), "{err:?}");
}
