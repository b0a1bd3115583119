//! The HTTP side: awsJson 1.1 on `POST /` with `X-Amz-Target:
//! AmazonSSM.<Op>`, and the awsQuery of STS and IAM (a form-encoded `POST /`
//! naming its `Action`) for `GetCallerIdentity` and
//! `SimulatePrincipalPolicy`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::time::Instant;

use super::query;
use super::runner::Ctx;
use super::wire::{WireError, json_response};
use super::{RecordedCall, Shared};

/// The router serving every operation.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", post(handle))
        .route("/_emulator/identity", post(super::control::set_identity))
        .route("/_emulator/policy", post(super::control::set_policy))
        .route("/_emulator/deny", post(super::control::deny))
        .route(
            "/_emulator/fail-execution",
            post(super::control::fail_execution),
        )
        .with_state(shared)
}

/// The caller's access key and region, from the SigV4 credential scope
/// (`Credential=AKID/date/region/service/aws4_request`). Signatures are not
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

/// Which wire protocol a request spoke, and so how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// SSM: awsJson 1.1.
    Json,
    /// STS and IAM: awsQuery, answered in XML.
    Query,
}

/// The protocol, operation and body of a request, or why it is refused
/// (in the protocol to answer in).
fn read(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Protocol, String, Value), (Protocol, WireError)> {
    if let Some(target) = headers.get("x-amz-target") {
        let Some(operation) = target
            .to_str()
            .ok()
            .and_then(|t| t.strip_prefix("AmazonSSM."))
        else {
            return Err((
                Protocol::Json,
                WireError::client(
                    "UnknownOperationException",
                    "X-Amz-Target is not AmazonSSM.*",
                ),
            ));
        };
        let body = if body.is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                (
                    Protocol::Json,
                    WireError::client("SerializationException", e.to_string()),
                )
            })?
        };
        return Ok((Protocol::Json, operation.to_owned(), body));
    }
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err((
            Protocol::Json,
            WireError::client(
                "UnknownOperationException",
                "X-Amz-Target is missing and the body is no awsQuery form",
            ),
        ));
    }
    let fields = query::parse_form(body);
    let Some(action) = fields.get("Action").and_then(Value::as_str) else {
        return Err((
            Protocol::Query,
            WireError::client("MissingAction", "Missing Action"),
        ));
    };
    Ok((Protocol::Query, action.to_owned(), Value::Object(fields)))
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (protocol, operation, body) = match read(&headers, &body) {
        Ok(request) => request,
        Err((Protocol::Json, error)) => return error.into_response(),
        Err((Protocol::Query, error)) => return query::error_response(&error, ""),
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
        let now = Instant::now();
        let fault = state
            .ops
            .faults
            .take(&operation, &caller, &region, &body)
            .or_else(|| {
                (!state.ops.limits.admit(&operation, now))
                    .then(|| WireError::client("ThrottlingException", "Rate exceeded"))
            });
        match (fault, protocol) {
            (Some(fault), _) => Err(fault),
            (None, Protocol::Query) => {
                query::dispatch(&operation, &body, &caller, &state.ops.policy).map(Answer::Xml)
            }
            (None, Protocol::Json) => {
                let failures = state.ops.failures.clone();
                let ctx = Ctx {
                    now,
                    settings: state.settings,
                    failures: &failures,
                };
                state
                    .ops
                    .dispatch(&operation, &body, &caller, &ctx)
                    .map(Answer::Json)
            }
        }
    };
    match (result, protocol) {
        (Ok(Answer::Json(value)), _) => json_response(StatusCode::OK, value.to_string()),
        (Ok(Answer::Xml(xml)), _) => query::ok_response(&xml),
        (Err(error), protocol) => {
            tracing::debug!(%operation, kind = %error.kind, "emulator error response");
            match protocol {
                Protocol::Json => error.into_response(),
                Protocol::Query => query::error_response(&error, &operation),
            }
        }
    }
}

/// A successful answer in either protocol.
#[derive(Debug)]
enum Answer {
    Json(Value),
    Xml(String),
}
