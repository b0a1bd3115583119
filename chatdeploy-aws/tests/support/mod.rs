//! Shared helpers: an emulator with the sample document, a real SDK client
//! pointed at it, and waiting for an execution to reach a state.
#![allow(dead_code, unreachable_pub, missing_docs)] // each test file uses a subset

pub mod fidelity;
pub mod policy;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::retry::RetryConfig;
use chatdeploy_aws::{SsmBackend, SsmEmulator, https_client};
use chatdeploy_core::backend::contract::BackendFixture;
use chatdeploy_core::backend::{DeployBackend, ExecutionSnapshot, StartRequest};
use chatdeploy_core::{DeploymentId, ExecutionId, UserId};

pub const DOCUMENT: &str = "Deploy-App";
pub const SAMPLE: &str = include_str!("../fixtures/deploy-app.yml");

/// An emulator with `Deploy-App`, ordinary steps of 50 ms, and stops that
/// stay `Cancelling` for 1 s (long enough to see on a loaded machine).
pub async fn emulator() -> SsmEmulator {
    SsmEmulator::builder()
        .step_delay(Duration::from_millis(50))
        .cancel_delay(Duration::from_secs(1))
        .document(DOCUMENT, SAMPLE)
        .start()
        .await
        .unwrap()
}

/// A real SDK client for the emulator: static test credentials, us-east-1,
/// and fast retries so fault tests finish quickly.
pub fn client(emulator: &SsmEmulator, access_key: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(emulator.url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, "test", None, None, "test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// The backend as the bot runs it: SSM and STS clients, fast retries.
pub fn backend(emulator: &SsmEmulator) -> SsmBackend {
    SsmBackend::builder()
        .with_client(client(emulator, "test"))
        .with_sts_client(emulator.sts_client_as("test"))
        .with_iam_client(emulator.iam_client_as("test"))
        .with_region("us-east-1")
        .build()
        .unwrap()
}

pub fn request(version: &str) -> StartRequest {
    StartRequest {
        deployment: DeploymentId::new("dep-1"),
        service: "app".into(),
        version: version.into(),
        environment: "production".into(),
        requester: UserId::new("U0ALICE"),
        document: DOCUMENT.into(),
        document_version: None,
        parameters: BTreeMap::from([
            ("ReleaseVersion".to_owned(), version.to_owned()),
            ("RequestedBy".to_owned(), "U0ALICE".to_owned()),
        ]),
        idempotency_token: uuid::Uuid::new_v4(),
    }
}

/// The backend contract's fixture: a start of `Deploy-App`, which waits at
/// its `Approve` step (the bot among its approvers) after about 0.3 s.
pub fn contract_fixture() -> BackendFixture {
    BackendFixture::new(request("r-1.0.0"), "Approve")
        .with_timeout(Duration::from_secs(20))
        .with_poll_interval(Duration::from_millis(20))
}

/// Polls until `done` holds (or panics after 10 s).
pub async fn wait_for(
    backend: &SsmBackend,
    id: &ExecutionId,
    done: impl Fn(&ExecutionSnapshot) -> bool,
) -> ExecutionSnapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = backend.snapshot(id).await.unwrap();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {snapshot:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
