//! Backend errors, typed so the engine can decide: back off, give up, or tell
//! the person what to fix.

use std::time::Duration;

/// Why a backend call failed.
///
/// `Display` is the detail for the log; [`BackendError::user_message`] is
/// the sentence for the person in chat.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The service throttled the call; retry with backoff.
    #[error("{operation} was throttled")]
    Throttled {
        /// The API operation.
        operation: String,
        /// How long the service asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The execution or document does not exist.
    #[error("{what} was not found")]
    NotFound {
        /// What was looked for, e.g. `execution 1234` or `document Deploy-App`.
        what: String,
    },
    /// The document refused the inputs.
    #[error("invalid parameters: {message}")]
    InvalidParameters {
        /// The service's message.
        message: String,
    },
    /// The idempotency token was already used with other inputs.
    #[error("idempotency token {token} was already used with other inputs")]
    IdempotencyMismatch {
        /// The token.
        token: String,
    },
    /// The call is not allowed in the execution's current state (e.g. a
    /// signal to an execution that no longer waits).
    #[error("{operation} is not possible now: {message}")]
    InvalidState {
        /// The API operation.
        operation: String,
        /// The service's message.
        message: String,
    },
    /// The backend refused an approval signal: the bot is not among the
    /// step's approvers, or the step no longer waits. The caller re-reads
    /// the execution to tell which; it must never count the signal as
    /// delivered.
    #[error("the approval signal was refused: {message}")]
    SignalRefused {
        /// The service's message.
        message: String,
    },
    /// The bot's credentials are missing, invalid or expired.
    #[error("the credentials were refused during {operation}: {message}")]
    Credentials {
        /// The API operation.
        operation: String,
        /// The service's (or credential provider's) message.
        message: String,
    },
    /// The bot's credentials lack a permission.
    #[error("access denied to {action}: {message}")]
    AccessDenied {
        /// The missing permission, e.g. `ssm:StartAutomationExecution`.
        action: String,
        /// The service's message.
        message: String,
    },
    /// The service could not be reached or failed (5xx, timeout, I/O).
    #[error("{operation} failed: the service is unavailable")]
    Unavailable {
        /// The API operation.
        operation: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Anything else the service reported.
    #[error("{operation} failed: {message}")]
    Other {
        /// The API operation.
        operation: String,
        /// The service's message.
        message: String,
    },
}

impl BackendError {
    /// Whether the same call may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }

    /// Whether the engine should slow down (throttling).
    pub fn is_throttling(&self) -> bool {
        matches!(self, Self::Throttled { .. })
    }

    /// One sentence for the person in chat.
    pub fn user_message(&self) -> String {
        match self {
            Self::Throttled { .. } => {
                "The deployment service is busy; chatdeploy will keep trying.".to_owned()
            }
            Self::NotFound { what } => format!("The deployment service has no {what}."),
            Self::InvalidParameters { message } => format!(
                "The automation document refused the inputs ({message}); check the service's \
                 `parameters` in the configuration."
            ),
            Self::IdempotencyMismatch { .. } => "This request was already started with other \
                 inputs; send a new command instead of editing the old one."
                .to_owned(),
            Self::InvalidState { message, .. } => {
                format!("The execution cannot do that now: {message}.")
            }
            Self::SignalRefused { message } => {
                format!("AWS refused the approval signal: {message}.")
            }
            Self::Credentials { message, .. } => format!(
                "The bot's AWS credentials were refused ({message}); renew them or fix the \
                 bot's AWS profile, then try again."
            ),
            Self::AccessDenied { action, message } => access_denied_advice(action, message),
            Self::Unavailable { .. } => {
                "The deployment service cannot be reached right now; try again shortly.".to_owned()
            }
            Self::Other { message, .. } => {
                format!("The deployment service reported an error: {message}.")
            }
        }
    }
}

/// The advice for an access denial, by what AWS says denied it; AWS's own
/// message is kept, as it names the principal, the action and the resource.
fn access_denied_advice(action: &str, message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let fix = if lower.contains("iam:passrole") {
        "the bot may not pass the automation's role to SSM: allow iam:PassRole on that role in \
         the bot's IAM policy (with iam:PassedToService ssm.amazonaws.com)"
            .to_owned()
    } else if lower.contains("service control policy") {
        format!(
            "a service control policy of your AWS organization denies {action}: ask the \
             organization's administrators, changing the bot's own policy will not help"
        )
    } else if lower.contains("permissions boundary") {
        format!("the bot's permissions boundary does not allow {action}: widen the boundary")
    } else if lower.contains("explicit deny") {
        format!(
            "a policy explicitly denies {action} to the bot: find and remove the Deny statement"
        )
    } else {
        format!("add {action} to the bot's IAM policy")
    };
    let message = message.trim_end_matches('.');
    if message.is_empty() {
        format!("AWS denied {action}; {fix}.")
    } else {
        format!("AWS denied {action} ({message}); {fix}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_and_outages_are_retryable() {
        let throttled = BackendError::Throttled {
            operation: "GetAutomationExecution".into(),
            retry_after: None,
        };
        assert!(throttled.is_retryable() && throttled.is_throttling());
        let denied = BackendError::AccessDenied {
            action: "ssm:StartAutomationExecution".into(),
            message: "no".into(),
        };
        assert!(!denied.is_retryable());
        assert_eq!(
            denied.user_message(),
            "AWS denied ssm:StartAutomationExecution (no); add ssm:StartAutomationExecution to \
             the bot's IAM policy."
        );
    }

    #[test]
    fn access_denials_get_advice_by_their_cause() {
        let advice = |message: &str| {
            BackendError::AccessDenied {
                action: "ssm:StartAutomationExecution".into(),
                message: message.into(),
            }
            .user_message()
        };
        let scp = advice(
            "User: arn:aws:sts::1:assumed-role/chatdeploy/s is not authorized to perform: \
             ssm:StartAutomationExecution with an explicit deny in a service control policy",
        );
        assert!(scp.contains("organization's administrators"), "{scp}");
        assert!(
            scp.contains("assumed-role/chatdeploy"),
            "keeps AWS's message: {scp}"
        );
        let pass = advice(
            "User: arn:aws:sts::1:assumed-role/chatdeploy/s is not authorized to perform: \
             iam:PassRole on resource: arn:aws:iam::1:role/automation",
        );
        assert!(pass.contains("allow iam:PassRole"), "{pass}");
        let deny = advice("… with an explicit deny in an identity-based policy");
        assert!(deny.contains("remove the Deny statement"), "{deny}");
        let boundary = advice("… because no permissions boundary allows the action");
        assert!(boundary.contains("permissions boundary"), "{boundary}");
    }
}
