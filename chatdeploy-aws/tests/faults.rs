#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Throttling, server errors and denied permissions, through the SDK's
//! retries and the backend's error mapping.

mod support;

use std::time::Duration;

use chatdeploy_core::backend::{BackendError, DeployBackend, ExecutionStatus};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_by_the_sdk() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    emulator.throttle_next(2);
    let id = backend.start(&request("r-1.0.0")).await.unwrap();
    // Two throttled attempts, then the one that worked: one execution.
    assert_eq!(emulator.call_count("StartAutomationExecution"), 3);
    assert_eq!(emulator.executions(), 1);
    let snapshot = backend.snapshot(&id).await.unwrap();
    assert_ne!(snapshot.status, ExecutionStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_by_the_sdk() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    let id = backend.start(&request("r-1.0.0")).await.unwrap();
    emulator.fail_next(3);
    backend.snapshot(&id).await.unwrap();
    assert_eq!(emulator.call_count("GetAutomationExecution"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_map_to_retryable_errors() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    emulator.throttle_next(10);
    let err = backend.start(&request("r-1.0.0")).await.unwrap_err();
    assert!(err.is_throttling(), "{err:?}");
    // max_attempts = 4 in the test client.
    assert_eq!(emulator.call_count("StartAutomationExecution"), 4);

    emulator.throttle_next(0);
    emulator.fail_next(10);
    let err = backend.describe(DOCUMENT).await.unwrap_err();
    assert!(matches!(err, BackendError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(emulator.executions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_added() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    emulator.set_latency(Duration::from_millis(150));
    let began = std::time::Instant::now();
    backend.describe(DOCUMENT).await.unwrap();
    assert!(began.elapsed() >= Duration::from_millis(150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_names_the_iam_action() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    emulator.deny("StartAutomationExecution");
    let err = backend.start(&request("r-1.0.0")).await.unwrap_err();
    match &err {
        BackendError::AccessDenied { action, message } => {
            assert_eq!(action, "ssm:StartAutomationExecution");
            assert!(message.contains("not authorized"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.user_message().contains("ssm:StartAutomationExecution"));
    // Not retried: one call.
    assert_eq!(emulator.call_count("StartAutomationExecution"), 1);
    emulator.allow("StartAutomationExecution");
    backend.start(&request("r-1.0.0")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_is_unavailable() {
    let emulator = emulator().await;
    let backend = backend(&emulator);
    drop(emulator);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = backend.describe(DOCUMENT).await.unwrap_err();
    assert!(matches!(err, BackendError::Unavailable { .. }), "{err:?}");
}
