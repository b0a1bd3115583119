//! Test control, beside SSM's wire: what tests do to an emulator running as
//! its own process (the `ssm-emulator` binary), where they cannot call
//! [`SsmEmulator`](super::SsmEmulator)'s methods. Not part of any AWS API:
//! `POST /_emulator/identity` maps an access key to a principal,
//! `POST /_emulator/fail-execution` fails an execution where it is,
//! `POST /_emulator/policy` sets what `SimulatePrincipalPolicy` decides for
//! an action, and `POST /_emulator/deny` denies (or allows again) an
//! operation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::Shared;
use crate::permissions::PolicyDecision;

/// `{"AccessKey": …, "Arn": …}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SetIdentity {
    access_key: String,
    arn: String,
}

/// `{"AutomationExecutionId": …, "Message": …}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FailExecution {
    automation_execution_id: String,
    message: String,
}

/// `{"Action": "ssm:SendAutomationSignal", "Decision": "implicitDeny"}`
/// (`allowed`, `implicitDeny` or `explicitDeny`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SetPolicy {
    action: String,
    decision: String,
}

/// `{"Operation": "SimulatePrincipalPolicy", "Denied": true}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Deny {
    operation: String,
    denied: bool,
}

pub(crate) async fn set_policy(
    AxumState(shared): AxumState<Arc<Shared>>,
    body: Bytes,
) -> StatusCode {
    let Ok(request) = serde_json::from_slice::<SetPolicy>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(decision) = PolicyDecision::from_name(&request.decision) else {
        return StatusCode::BAD_REQUEST;
    };
    shared.lock().ops.policy.decide(&request.action, decision);
    StatusCode::NO_CONTENT
}

pub(crate) async fn deny(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> StatusCode {
    let Ok(request) = serde_json::from_slice::<Deny>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let denied = &mut shared.lock().ops.faults.denied;
    if request.denied {
        denied.insert(request.operation);
    } else {
        denied.remove(&request.operation);
    }
    StatusCode::NO_CONTENT
}

pub(crate) async fn set_identity(
    AxumState(shared): AxumState<Arc<Shared>>,
    body: Bytes,
) -> StatusCode {
    let Ok(request) = serde_json::from_slice::<SetIdentity>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    shared
        .lock()
        .identities
        .insert(request.access_key, request.arn);
    StatusCode::NO_CONTENT
}

pub(crate) async fn fail_execution(
    AxumState(shared): AxumState<Arc<Shared>>,
    body: Bytes,
) -> StatusCode {
    let Ok(request) = serde_json::from_slice::<FailExecution>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if fail(&shared, &request.automation_execution_id, &request.message) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CONFLICT
    }
}

/// Fails a running execution at its current step; `false` when it does
/// not exist or has already ended.
pub(crate) fn fail(shared: &Shared, execution: &str, message: &str) -> bool {
    let mut state = shared.lock();
    let now = Instant::now();
    let Some(found) = state.ops.executions.iter_mut().find(|e| e.id == execution) else {
        return false;
    };
    if found.is_terminal() {
        return false;
    }
    if let Some(step) = found.steps.get_mut(found.current) {
        step.status = "Failed";
        step.ended = Some(now);
        step.failure = Some(message.to_owned());
    }
    found.finish("Failed", now, Some(message.to_owned()));
    true
}
