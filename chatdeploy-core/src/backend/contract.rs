//! The behaviour every [`DeployBackend`] must have, as reusable checks: run
//! [`run_all`] against a new backend with a [`BackendFixture`] saying what
//! to start.
//!
//! The checks panic on the first violation (they are test code). They wait
//! with `tokio::time::sleep` and measure on tokio's clock, so they run both
//! on a paused clock (a scripted backend: the waits take no real time) and
//! in real time (an emulator or a real service), each wait bounded by
//! [`BackendFixture::timeout`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::{
    BackendError, DeployBackend, ExecutionSnapshot, ExecutionStatus, Signal, StartRequest,
};
use crate::ids::{DeploymentId, ExecutionId};

/// What the checks start, and how long they wait for it.
#[derive(Debug, Clone)]
pub struct BackendFixture {
    /// A start of a document with an approval step that the execution
    /// reaches quickly and whose approvers include the bot, with at least
    /// one parameter. Every check starts a copy with a fresh idempotency
    /// token (see [`BackendFixture::fresh_request`]).
    pub request: StartRequest,
    /// The name of that approval step.
    pub approval_step: String,
    /// The longest a check waits for an execution to reach a state, on
    /// tokio's clock.
    pub timeout: Duration,
    /// How long a check sleeps between two snapshots.
    pub poll_interval: Duration,
}

impl BackendFixture {
    /// A fixture starting `request`, whose document waits at
    /// `approval_step`; waits of at most 30 s, polled every 50 ms.
    pub fn new(request: StartRequest, approval_step: impl Into<String>) -> Self {
        Self {
            request,
            approval_step: approval_step.into(),
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
        }
    }

    /// Sets the longest wait.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the interval between snapshots.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// A copy of the request with a new idempotency token and release ID,
    /// so each check starts an execution of its own.
    pub fn fresh_request(&self) -> StartRequest {
        let token = Uuid::new_v4();
        let mut request = self.request.clone();
        request.idempotency_token = token;
        request.deployment = DeploymentId::new(format!("d-contract-{}", token.simple()));
        request
    }
}

/// Runs every check below against `backend`.
pub async fn run_all<B: DeployBackend + ?Sized>(backend: &B, fixture: &BackendFixture) {
    starts_are_idempotent(backend, fixture).await;
    a_reused_token_with_other_inputs_is_refused(backend, fixture).await;
    an_unknown_execution_is_not_found(backend).await;
    an_unknown_document_is_not_found(backend, fixture).await;
    the_approval_gate_names_the_step_and_the_bot(backend, fixture).await;
    a_waiting_execution_is_cancelled_once(backend, fixture).await;
}

/// The same idempotency token returns the same execution; a new token
/// starts a new one.
pub async fn starts_are_idempotent<B: DeployBackend + ?Sized>(
    backend: &B,
    fixture: &BackendFixture,
) {
    let request = fixture.fresh_request();
    let first = backend.start(&request).await.expect("start");
    let again = backend.start(&request).await.expect("start again");
    assert_eq!(
        again, first,
        "the same token must return the same execution"
    );
    let other = fixture.fresh_request();
    let second = backend.start(&other).await.expect("start with a new token");
    assert_ne!(second, first, "a new token must start a new execution");
    // Leave nothing waiting behind (best effort: not what this checks).
    let _ = backend.cancel(&first).await;
    let _ = backend.cancel(&second).await;
}

/// A token already used with other inputs (another value of the request's
/// first parameter, or another document) is
/// [`BackendError::IdempotencyMismatch`].
pub async fn a_reused_token_with_other_inputs_is_refused<B: DeployBackend + ?Sized>(
    backend: &B,
    fixture: &BackendFixture,
) {
    let request = fixture.fresh_request();
    let id = backend.start(&request).await.expect("start");
    let mut other_parameters = request.clone();
    let value = other_parameters
        .parameters
        .values_mut()
        .next()
        .expect("the fixture's request must have a parameter to change");
    value.push_str("-other");
    let mut other_document = request.clone();
    other_document.document.push_str("-other");
    for (what, other) in [
        ("other parameters", other_parameters),
        ("another document", other_document),
    ] {
        match backend.start(&other).await {
            Err(BackendError::IdempotencyMismatch { .. }) => {}
            result => {
                panic!("the same token with {what} must be IdempotencyMismatch, got {result:?}")
            }
        }
    }
    let _ = backend.cancel(&id).await;
}

/// An execution ID the backend never issued (a random UUID) is
/// [`BackendError::NotFound`] to `snapshot`, `signal` and `cancel`.
pub async fn an_unknown_execution_is_not_found<B: DeployBackend + ?Sized>(backend: &B) {
    let unknown = ExecutionId::new(Uuid::new_v4().to_string());
    match backend.snapshot(&unknown).await {
        Err(BackendError::NotFound { .. }) => {}
        result => panic!("a snapshot of {unknown} must be NotFound, got {result:?}"),
    }
    match backend.signal(&unknown, Signal::Approve, "contract").await {
        Err(BackendError::NotFound { .. }) => {}
        result => panic!("a signal to {unknown} must be NotFound, got {result:?}"),
    }
    match backend.cancel(&unknown).await {
        Err(BackendError::NotFound { .. }) => {}
        result => panic!("a cancel of {unknown} must be NotFound, got {result:?}"),
    }
}

/// A document that does not exist is [`BackendError::NotFound`] to
/// `describe` and to `approval_gate`.
pub async fn an_unknown_document_is_not_found<B: DeployBackend + ?Sized>(
    backend: &B,
    fixture: &BackendFixture,
) {
    let unknown = format!("chatdeploy-contract-missing-{}", Uuid::new_v4().simple());
    match backend.describe(&unknown).await {
        Err(BackendError::NotFound { .. }) => {}
        result => panic!("describing {unknown} must be NotFound, got {result:?}"),
    }
    let mut request = fixture.fresh_request();
    request.document.clone_from(&unknown);
    match backend.approval_gate(&request).await {
        Err(BackendError::NotFound { .. }) => {}
        result => panic!("the approval gate of {unknown} must be NotFound, got {result:?}"),
    }
}

/// The approval gate of the request names its approval step, in the
/// document's step order, and says the bot is one of its approvers.
pub async fn the_approval_gate_names_the_step_and_the_bot<B: DeployBackend + ?Sized>(
    backend: &B,
    fixture: &BackendFixture,
) {
    let request = fixture.fresh_request();
    let gate = backend
        .approval_gate(&request)
        .await
        .expect("approval gate");
    let step = gate
        .steps
        .iter()
        .find(|s| s.name == fixture.approval_step)
        .unwrap_or_else(|| {
            panic!(
                "the gate must name approval step {}: {gate:?}",
                fixture.approval_step
            )
        });
    assert!(step.includes_bot, "the bot must approve {step:?}");
    assert!(
        gate.step_order.contains(&step.name),
        "the step order must hold the approval step: {gate:?}"
    );
    assert!(
        !gate.identity.is_empty(),
        "the gate names the bot: {gate:?}"
    );
    assert_eq!(gate.refusal(&request.document), None, "{gate:?}");
}

/// An execution reaches its approval wait; [`DeployBackend::cancel`] ends
/// it as `Cancelled` (possibly through `Cancelling`); then a signal is
/// [`BackendError::SignalRefused`] and a second cancel is
/// [`BackendError::InvalidState`].
pub async fn a_waiting_execution_is_cancelled_once<B: DeployBackend + ?Sized>(
    backend: &B,
    fixture: &BackendFixture,
) {
    let request = fixture.fresh_request();
    let id = backend.start(&request).await.expect("start");
    let gate = backend
        .approval_gate(&request)
        .await
        .expect("approval gate");
    let waiting = wait_for(backend, &id, fixture, "the approval wait", |s| {
        s.waiting_for_approval.is_some() || s.status.is_terminal()
    })
    .await;
    let wait = waiting
        .waiting_for_approval
        .clone()
        .unwrap_or_else(|| panic!("the execution ended instead of waiting: {waiting:?}"));
    assert_eq!(waiting.status, ExecutionStatus::Waiting, "{waiting:?}");
    assert_eq!(wait.step, fixture.approval_step, "{waiting:?}");
    assert!(
        gate.steps.iter().any(|s| s.name == wait.step),
        "the waiting step {} must be one of the gate's: {gate:?}",
        wait.step
    );
    let step = waiting
        .step(&wait.step)
        .unwrap_or_else(|| panic!("the snapshot must list step {}: {waiting:?}", wait.step));
    assert!(step.is_approval, "{step:?} is an approval step");

    backend
        .cancel(&id)
        .await
        .expect("cancel a waiting execution");
    let ended = wait_for(backend, &id, fixture, "the end of the cancellation", |s| {
        assert!(
            matches!(
                s.status,
                ExecutionStatus::Cancelling | ExecutionStatus::Cancelled
            ),
            "after cancel the execution is Cancelling or Cancelled: {s:?}"
        );
        s.status.is_terminal()
    })
    .await;
    assert_eq!(ended.status, ExecutionStatus::Cancelled, "{ended:?}");
    assert!(ended.waiting_for_approval.is_none(), "{ended:?}");

    match backend.signal(&id, Signal::Approve, "contract").await {
        Err(BackendError::SignalRefused { .. }) => {}
        result => panic!("a signal to a cancelled execution must be SignalRefused, got {result:?}"),
    }
    match backend.cancel(&id).await {
        Err(BackendError::InvalidState { .. }) => {}
        result => panic!("a second cancel must be InvalidState, got {result:?}"),
    }
}

/// Polls `execution` every [`BackendFixture::poll_interval`] until `done`
/// holds, and returns that snapshot; panics (naming `what`) once
/// [`BackendFixture::timeout`] has passed on tokio's clock, or when a
/// snapshot fails.
pub async fn wait_for<B: DeployBackend + ?Sized>(
    backend: &B,
    execution: &ExecutionId,
    fixture: &BackendFixture,
    what: &str,
    done: impl Fn(&ExecutionSnapshot) -> bool,
) -> ExecutionSnapshot {
    let deadline = Instant::now() + fixture.timeout;
    loop {
        let snapshot = backend
            .snapshot(execution)
            .await
            .unwrap_or_else(|e| panic!("snapshot of {execution} while waiting for {what}: {e}"));
        if done(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting {:?} for {what}: {snapshot:?}",
            fixture.timeout
        );
        tokio::time::sleep(fixture.poll_interval).await;
    }
}
