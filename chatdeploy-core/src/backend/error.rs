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
            Self::AccessDenied { action, .. } => {
                format!("The bot is not allowed to call {action}; add it to the bot's IAM policy.")
            }
            Self::Unavailable { .. } => {
                "The deployment service cannot be reached right now; try again shortly.".to_owned()
            }
            Self::Other { message, .. } => {
                format!("The deployment service reported an error: {message}.")
            }
        }
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
            "The bot is not allowed to call ssm:StartAutomationExecution; add it to the bot's \
             IAM policy."
        );
    }
}
