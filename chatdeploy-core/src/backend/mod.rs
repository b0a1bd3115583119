//! The [`DeployBackend`] trait: what runs a release (SSM Automation in
//! production), seen as executions with steps.

#[cfg(any(test, feature = "fake"))]
pub mod contract;
mod error;
mod gate;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{DeploymentId, EventId, ExecutionId, UserId};

pub use error::BackendError;
pub use gate::{ApprovalGate, ApprovalStep};
pub use snapshot::{
    ApprovalDecisionRecord, ApprovalWait, ExecutionSnapshot, ExecutionStatus, StepSnapshot,
    StepStatus, WaitOutcome,
};

/// The namespace of idempotency tokens: a fixed UUID so that the same source
/// event yields the same token in every process and after every restart.
const TOKEN_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_7b0a_8d4e_4f0b_9c7d_c4a7_de91_0b01);

/// The backend idempotency token for an action caused by `source`: a UUID v5
/// of the source event ID and a purpose (`"start"`, `"approve"`, …), so a
/// redelivered event, a retried call or a restart reuses the same token.
///
/// ```
/// use chatdeploy_core::backend::idempotency_token;
/// use chatdeploy_core::EventId;
///
/// let event = EventId::new("Ev0123ABC");
/// assert_eq!(idempotency_token(&event, "start"), idempotency_token(&event, "start"));
/// assert_ne!(idempotency_token(&event, "start"), idempotency_token(&event, "rollback"));
/// ```
pub fn idempotency_token(source: &EventId, purpose: &str) -> Uuid {
    let name = format!("{purpose}\u{1f}{source}");
    Uuid::new_v5(&TOKEN_NAMESPACE, name.as_bytes())
}

/// Everything the backend needs to start one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    /// chatdeploy's ID for the release.
    pub deployment: DeploymentId,
    /// The canonical service name.
    pub service: String,
    /// The version being released.
    pub version: String,
    /// The target environment.
    pub environment: String,
    /// Who asked for it.
    pub requester: UserId,
    /// The automation document (SSM: name or ARN).
    pub document: String,
    /// A pinned document version, if configured.
    pub document_version: Option<String>,
    /// The document's input parameters, rendered from the service template.
    pub parameters: BTreeMap<String, String>,
    /// Deterministic idempotency token (see [`idempotency_token`]): the same
    /// token never starts a second execution.
    pub idempotency_token: Uuid,
}

/// An approval-step decision sent to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Let the execution continue.
    Approve,
    /// Stop the execution at its approval step.
    Reject,
}

/// One input parameter a document declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentParameter {
    /// Its name.
    pub name: String,
    /// Its type as the backend spells it (e.g. `String`, `StringList`).
    pub kind: String,
    /// Its default value; a parameter without one is required.
    pub default_value: Option<String>,
    /// Its description.
    pub description: Option<String>,
}

impl DocumentParameter {
    /// Whether a start must provide this parameter.
    pub fn is_required(&self) -> bool {
        self.default_value.is_none()
    }
}

/// What the backend knows of a document, for preflight checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentDescription {
    /// The document's name.
    pub name: String,
    /// Its default (or latest) version, if the backend reports one.
    pub version: Option<String>,
    /// The parameters it declares.
    pub parameters: Vec<DocumentParameter>,
}

/// What runs releases: SSM Automation in production, an emulator or a
/// scripted fake in tests.
///
/// Implementations translate between their service's wire format and these
/// types, retry what their SDK retries, and map errors to [`BackendError`];
/// they make no decisions.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait DeployBackend: Send + Sync {
    /// Starts an execution; the same [`StartRequest::idempotency_token`]
    /// returns the same execution instead of starting a second one.
    ///
    /// # Errors
    ///
    /// [`BackendError::InvalidParameters`] when the document refuses the
    /// inputs, [`BackendError::IdempotencyMismatch`] when the token was used
    /// with other inputs, [`BackendError::Throttled`] and
    /// [`BackendError::Unavailable`] when the call may be retried.
    async fn start(&self, request: &StartRequest) -> Result<ExecutionId, BackendError>;

    /// The execution's current state.
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`] for an unknown execution, and the
    /// retryable errors of [`DeployBackend::start`].
    async fn snapshot(&self, execution: &ExecutionId) -> Result<ExecutionSnapshot, BackendError>;

    /// Sends an approval decision to the execution's waiting approval step.
    /// `comment` names who decided and where.
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`], [`BackendError::SignalRefused`] when the
    /// backend refuses the signal (the bot is not an approver of the step,
    /// or the step no longer waits: re-read the execution to tell which),
    /// and the retryable errors.
    async fn signal(
        &self,
        execution: &ExecutionId,
        signal: Signal,
        comment: &str,
    ) -> Result<(), BackendError>;

    /// Stops the execution.
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`], [`BackendError::InvalidState`] when it has
    /// already finished, and the retryable errors.
    async fn cancel(&self, execution: &ExecutionId) -> Result<(), BackendError>;

    /// Describes a document, for preflight checks.
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`] when the document does not exist, and the
    /// retryable errors.
    async fn describe(&self, document: &str) -> Result<DocumentDescription, BackendError>;

    /// The approval steps the request's document declares, with their
    /// approvers resolved for the request's parameters, and whether the
    /// bot may answer them. Backends cache what they can (SSM: per document
    /// version).
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`] when the document (version) does not
    /// exist, [`BackendError::AccessDenied`] when it may not be read, and
    /// the retryable errors.
    async fn approval_gate(&self, request: &StartRequest) -> Result<ApprovalGate, BackendError>;

    /// A link to the execution for people (e.g. the AWS console), if any.
    fn execution_url(&self, execution: &ExecutionId) -> Option<String>;
}

macro_rules! forward_deploy_backend {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: DeployBackend + ?Sized> DeployBackend for $ptr {
            async fn start(&self, request: &StartRequest) -> Result<ExecutionId, BackendError> {
                (**self).start(request).await
            }
            async fn snapshot(
                &self,
                execution: &ExecutionId,
            ) -> Result<ExecutionSnapshot, BackendError> {
                (**self).snapshot(execution).await
            }
            async fn signal(
                &self,
                execution: &ExecutionId,
                signal: Signal,
                comment: &str,
            ) -> Result<(), BackendError> {
                (**self).signal(execution, signal, comment).await
            }
            async fn cancel(&self, execution: &ExecutionId) -> Result<(), BackendError> {
                (**self).cancel(execution).await
            }
            async fn describe(&self, document: &str) -> Result<DocumentDescription, BackendError> {
                (**self).describe(document).await
            }
            async fn approval_gate(
                &self,
                request: &StartRequest,
            ) -> Result<ApprovalGate, BackendError> {
                (**self).approval_gate(request).await
            }
            fn execution_url(&self, execution: &ExecutionId) -> Option<String> {
                (**self).execution_url(execution)
            }
        }
    };
}
forward_deploy_backend!(Arc<T>);
forward_deploy_backend!(Box<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a = EventId::new("Ev1");
        let b = EventId::new("Ev2");
        assert_eq!(
            idempotency_token(&a, "start"),
            idempotency_token(&a, "start")
        );
        assert_ne!(
            idempotency_token(&a, "start"),
            idempotency_token(&b, "start")
        );
        assert_eq!(idempotency_token(&a, "start").get_version_num(), 5);
        // Pinned: a change of namespace or format would let a redelivery
        // after an upgrade start a second execution.
        assert_eq!(
            idempotency_token(&a, "start").to_string(),
            Uuid::new_v5(&TOKEN_NAMESPACE, b"start\x1fEv1").to_string()
        );
    }
}
