//! The [`ActionPolicy`] trait: may this person do this mutating action?
//! The one place an embedder plugs in its own access rules for deploy,
//! rollback, cancel, lock, unlock, approve and reject; a denial is a value
//! with the sentence for the person, not an error.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Denial, PolicyError};
use crate::ids::UserId;

/// A mutating action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Start a release.
    Deploy,
    /// Redeploy an earlier version.
    Rollback,
    /// Stop a release in flight.
    Cancel,
    /// Freeze a service.
    Lock,
    /// Lift a freeze.
    Unlock,
    /// Approve a release.
    Approve,
    /// Reject a release.
    Reject,
}

impl Action {
    /// The command word, e.g. `deploy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
            Self::Cancel => "cancel",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// What a release being acted on looks like (cancel, approve, reject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFacts {
    /// Who asked for it.
    pub requester: UserId,
    /// Who approved it so far, in this wait.
    pub approved_by: Vec<UserId>,
}

/// One question to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// What.
    pub action: Action,
    /// Who asks.
    pub user: UserId,
    /// The canonical service name.
    pub service: String,
    /// The environment, when the action names one.
    pub environment: Option<String>,
    /// The release acted on, for cancel, approve and reject.
    pub release: Option<ReleaseFacts>,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Refused, with the reason for the person.
    Denied(Denial),
}

impl Verdict {
    /// Whether the action may happen.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Decides every mutating action. The engine asks before it acts (and
/// audits a denial); chat channel rules (mutating commands only in deploy
/// channels) are checked before the policy is asked.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ActionPolicy: Send + Sync {
    /// May `request.user` do `request.action`?
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when the policy cannot decide (e.g. a user group
    /// cannot be read); the engine then refuses (fail closed).
    async fn decide(&self, request: &ActionRequest) -> Result<Verdict, PolicyError>;
}

macro_rules! forward_action_policy {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: ActionPolicy + ?Sized> ActionPolicy for $ptr {
            async fn decide(&self, request: &ActionRequest) -> Result<Verdict, PolicyError> {
                (**self).decide(request).await
            }
        }
    };
}
forward_action_policy!(Arc<T>);
forward_action_policy!(Box<T>);
