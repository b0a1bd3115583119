//! SDK errors mapped to [`BackendError`], so the engine can tell "back off"
//! from "give up" from "tell the person what to fix".

use std::error::Error as StdError;

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use chatdeploy_core::backend::BackendError;
use chatdeploy_core::metrics::{self, AwsService};

/// The operations the backend calls (SSM's, and STS's and IAM's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `StartAutomationExecution`.
    StartAutomationExecution,
    /// `GetAutomationExecution`.
    GetAutomationExecution,
    /// `SendAutomationSignal`.
    SendAutomationSignal,
    /// `StopAutomationExecution`.
    StopAutomationExecution,
    /// `DescribeDocument`.
    DescribeDocument,
    /// `GetDocument`.
    GetDocument,
    /// `DescribeAutomationStepExecutions`.
    DescribeAutomationStepExecutions,
    /// STS `GetCallerIdentity` (needs no permission).
    GetCallerIdentity,
    /// IAM `SimulatePrincipalPolicy` (`check`'s permissions part).
    SimulatePrincipalPolicy,
}

impl Operation {
    /// The API name, e.g. `StartAutomationExecution`.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartAutomationExecution => "StartAutomationExecution",
            Self::GetAutomationExecution => "GetAutomationExecution",
            Self::SendAutomationSignal => "SendAutomationSignal",
            Self::StopAutomationExecution => "StopAutomationExecution",
            Self::DescribeDocument => "DescribeDocument",
            Self::GetDocument => "GetDocument",
            Self::DescribeAutomationStepExecutions => "DescribeAutomationStepExecutions",
            Self::GetCallerIdentity => "GetCallerIdentity",
            Self::SimulatePrincipalPolicy => "SimulatePrincipalPolicy",
        }
    }

    /// The AWS service it belongs to, for metrics.
    pub fn service(self) -> AwsService {
        match self {
            Self::GetCallerIdentity => AwsService::Sts,
            _ => AwsService::Ssm,
        }
    }

    /// The IAM action a caller needs for it, e.g. `ssm:StartAutomationExecution`.
    pub fn iam_action(self) -> String {
        match self {
            Self::GetCallerIdentity => "sts:GetCallerIdentity".to_owned(),
            Self::SimulatePrincipalPolicy => "iam:SimulatePrincipalPolicy".to_owned(),
            other => format!("ssm:{}", other.name()),
        }
    }
}

/// What the failed call was about, for messages that name it.
#[derive(Debug, Clone)]
pub(crate) struct Subject<'a> {
    pub(crate) operation: Operation,
    /// `execution <id>` or `document <name>`.
    pub(crate) what: String,
    /// The idempotency token, for starts.
    pub(crate) token: Option<&'a str>,
}

/// Counts a call of `operation` (each request sent, pages included).
pub(crate) fn called(operation: Operation) {
    metrics::aws_api_call(operation.service(), operation.name());
}

/// Maps any SDK error of one call, and counts it by kind.
pub(crate) fn from_sdk<E>(subject: &Subject<'_>, err: SdkError<E>) -> BackendError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let mapped = map_sdk(subject, err);
    let operation = subject.operation;
    metrics::aws_api_error(operation.service(), operation.name(), &mapped);
    mapped
}

fn map_sdk<E>(subject: &Subject<'_>, err: SdkError<E>) -> BackendError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let op = subject.operation.name().to_owned();
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let inner = service.into_err();
            classify(
                subject,
                inner.code(),
                inner.message().unwrap_or_default(),
                status,
            )
            .unwrap_or_else(|| BackendError::Unavailable {
                operation: op,
                source: Box::new(inner),
            })
        }
        // No credentials to sign with: say so, never "unavailable".
        other if credentials_failure(&other).is_some() => BackendError::Credentials {
            message: credentials_failure(&other).unwrap_or_default(),
            operation: op,
        },
        // Timeouts, connection failures and unparseable responses: nothing
        // the caller did wrong, and worth trying again later.
        other @ (SdkError::TimeoutError(_)
        | SdkError::DispatchFailure(_)
        | SdkError::ResponseError(_)) => BackendError::Unavailable {
            operation: op,
            source: Box::new(other),
        },
        // Construction failures (a missing required member) are our bug.
        other => BackendError::Other {
            operation: op,
            message: other.to_string(),
        },
    }
}

/// The credential provider's complaint, when the call failed because no
/// credentials could be loaded (the SDK reports it as a dispatch failure).
fn credentials_failure(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(credentials) =
            cause.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            let mut text = credentials.to_string();
            let mut inner = credentials.source();
            while let Some(next) = inner {
                text.push_str(": ");
                text.push_str(&next.to_string());
                inner = next.source();
            }
            return Some(text);
        }
        source = cause.source();
    }
    None
}

/// Maps a service error by its code; `None` means "unavailable" (a 5xx),
/// which the caller wraps with the error as its source.
pub(crate) fn classify(
    subject: &Subject<'_>,
    code: Option<&str>,
    message: &str,
    status: u16,
) -> Option<BackendError> {
    let operation = subject.operation.name().to_owned();
    let message = message.to_owned();
    let mapped = match code.unwrap_or_default() {
        // TooManyUpdates is SSM's throttling of document writes; the
        // execution limit clears as other executions finish: back off too.
        "ThrottlingException"
        | "Throttling"
        | "TooManyUpdates"
        | "RequestLimitExceeded"
        | "AutomationExecutionLimitExceededException" => BackendError::Throttled {
            operation,
            retry_after: None,
        },
        "AutomationExecutionNotFoundException"
        | "InvalidDocument"
        | "AutomationDefinitionNotFoundException"
        | "AutomationDefinitionVersionNotFoundException"
        | "InvalidDocumentVersion" => BackendError::NotFound {
            what: subject.what.clone(),
        },
        "InvalidAutomationExecutionParametersException" | "InvalidTarget" => {
            BackendError::InvalidParameters { message }
        }
        "IdempotentParameterMismatch" => BackendError::IdempotencyMismatch {
            token: subject.token.unwrap_or_default().to_owned(),
        },
        // SSM answers both "the caller is not an approver of the step" and
        // "the step no longer waits" with these: a refusal, which the
        // engine tells apart by reading the execution again.
        "InvalidAutomationSignalException" | "AutomationStepNotFoundException" => {
            BackendError::SignalRefused { message }
        }
        // A stop of an execution that has already ended.
        "InvalidAutomationStatusUpdateException" => {
            BackendError::InvalidState { operation, message }
        }
        // Bad or expired credentials: renewed elsewhere than the policy.
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException" => BackendError::Credentials { operation, message },
        "AccessDeniedException" | "AccessDenied" => BackendError::AccessDenied {
            action: subject.operation.iam_action(),
            message,
        },
        "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => return None,
        _ if status >= 500 => return None,
        code => BackendError::Other {
            operation,
            message: if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        },
    };
    Some(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Subject<'static> {
        Subject {
            operation: Operation::StartAutomationExecution,
            what: "document Deploy-App".into(),
            token: Some("tok-1"),
        }
    }

    fn map(code: &str, status: u16) -> Option<BackendError> {
        classify(&start(), Some(code), "boom", status)
    }

    #[test]
    fn throttling_codes_back_off() {
        for code in ["ThrottlingException", "TooManyUpdates"] {
            assert!(
                matches!(map(code, 400), Some(BackendError::Throttled { .. })),
                "{code}"
            );
        }
    }

    #[test]
    fn not_found_names_the_subject() {
        for code in ["AutomationExecutionNotFoundException", "InvalidDocument"] {
            match map(code, 400) {
                Some(BackendError::NotFound { what }) => assert_eq!(what, "document Deploy-App"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn caller_errors_are_typed() {
        assert!(matches!(
            map("InvalidAutomationExecutionParametersException", 400),
            Some(BackendError::InvalidParameters { message }) if message == "boom"
        ));
        assert!(matches!(
            map("IdempotentParameterMismatch", 400),
            Some(BackendError::IdempotencyMismatch { token }) if token == "tok-1"
        ));
        assert!(matches!(
            map("InvalidAutomationSignalException", 400),
            Some(BackendError::SignalRefused { message }) if message == "boom"
        ));
        assert!(matches!(
            map("ExpiredTokenException", 400),
            Some(BackendError::Credentials { .. })
        ));
        assert!(matches!(
            map("InvalidAutomationStatusUpdateException", 400),
            Some(BackendError::InvalidState { .. })
        ));
    }

    #[test]
    fn access_denied_names_the_iam_action() {
        match map("AccessDeniedException", 400) {
            Some(BackendError::AccessDenied { action, .. }) => {
                assert_eq!(action, "ssm:StartAutomationExecution");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_are_unavailable_and_the_rest_is_other() {
        assert!(map("InternalServerError", 500).is_none());
        assert!(map("SomethingNew", 503).is_none());
        assert!(matches!(
            map("SomethingNew", 400),
            Some(BackendError::Other { message, .. }) if message == "SomethingNew: boom"
        ));
    }
}
