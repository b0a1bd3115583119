//! The HTTP side: awsJson 1.1 on `POST /`, `X-Amz-Target: AmazonSSM.<Op>`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::time::Instant;

use super::runner::Ctx;
use super::wire::{WireError, json_response};
use super::{RecordedCall, Shared};

/// The router serving every operation.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/", post(handle)).with_state(shared)
}

/// The caller's access key and region, from the SigV4 credential scope
/// (`Credential=AKID/date/region/ssm/aws4_request`). Signatures are not
/// checked: the emulator trusts its loopback clients.
fn credential_scope(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().filter(|k| !k.is_empty()).map(str::to_owned);
    let region = parts.nth(1).map(str::to_owned);
    (key, region)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(operation) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSSM."))
        .map(str::to_owned)
    else {
        return WireError::client(
            "UnknownOperationException",
            "X-Amz-Target is missing or not AmazonSSM.*",
        )
        .into_response();
    };
    let body: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => {
                return WireError::client("SerializationException", e.to_string()).into_response();
            }
        }
    };
    let (key, region) = credential_scope(&headers);
    let region = region.unwrap_or_else(|| "us-east-1".to_owned());
    let (caller, latency) = {
        let mut state = shared.lock();
        let caller = key
            .and_then(|k| state.identities.get(&k).cloned())
            .unwrap_or_else(|| state.caller_arn.clone());
        let recorded_body = if state.record_bodies {
            body.clone()
        } else {
            Value::Null
        };
        state.ops.calls.push(RecordedCall {
            operation: operation.clone(),
            body: recorded_body,
            caller: caller.clone(),
        });
        (caller, state.ops.faults.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let result = {
        let mut state = shared.lock();
        let state = &mut *state;
        match state.ops.faults.take(&operation, &caller, &region) {
            Some(fault) => Err(fault),
            None => {
                let failures = state.ops.failures.clone();
                let ctx = Ctx {
                    now: Instant::now(),
                    step_delay: state.step_delay,
                    failures: &failures,
                };
                state.ops.dispatch(&operation, &body, &caller, &ctx)
            }
        }
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, value.to_string()),
        Err(error) => {
            tracing::debug!(%operation, kind = %error.kind, "emulator error response");
            error.into_response()
        }
    }
}
