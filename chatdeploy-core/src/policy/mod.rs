//! The [`ApproverPolicy`] trait: who may approve a release, and how many
//! approvals it needs.
//!
//! A refusal is a [`Denial`] value with a sentence for the person, not an
//! error; errors are reserved for not being able to decide at all.

mod membership;
mod static_policy;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chat::ChatError;
use crate::ids::{Principal, UserId};

pub use membership::is_member;
pub use static_policy::{ServiceApprovalRule, StaticApproverPolicy};

/// One person's attempt to approve one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalCheck {
    /// The canonical service name.
    pub service: String,
    /// Who asked for the release.
    pub requester: UserId,
    /// Who is trying to approve it.
    pub approver: UserId,
    /// Who has approved it so far.
    pub approved_by: Vec<UserId>,
}

/// Why an approval was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Denial {
    /// The person is not an approver of this service.
    NotAnApprover {
        /// The service.
        service: String,
    },
    /// The person asked for the release and may not approve it themselves.
    SelfApproval,
    /// The person has already approved this release.
    AlreadyApproved,
    /// The service is not in the policy.
    UnknownService {
        /// The service.
        service: String,
    },
}

impl Denial {
    /// One sentence for the person who clicked.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotAnApprover { service } => format!(
                "You are not an approver of {service}; ask one of the approvers mentioned in \
                 the request."
            ),
            Self::SelfApproval => "You requested this release, so someone else has to approve \
                 it; ask one of the approvers mentioned in the request."
                .to_owned(),
            Self::AlreadyApproved => {
                "You have already approved this release; it needs another approver.".to_owned()
            }
            Self::UnknownService { service } => {
                format!("{service} has no approval policy, so nobody can approve it.")
            }
        }
    }
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalVerdict {
    /// The approval counts.
    Allowed,
    /// The approval is refused.
    Denied(Denial),
}

impl ApprovalVerdict {
    /// Whether the approval counts.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// The policy could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A user group's membership could not be read.
    #[error("could not read the members of user group {group}")]
    Membership {
        /// The group.
        group: String,
        /// The chat error.
        #[source]
        source: ChatError,
    },
}

/// Who may approve which release.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ApproverPolicy: Send + Sync {
    /// Whether `check.approver` may approve this release now.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when the policy cannot decide (e.g. group membership
    /// cannot be read); callers treat that as a refusal and say so.
    async fn check(&self, check: &ApprovalCheck) -> Result<ApprovalVerdict, PolicyError>;

    /// How many distinct approvals a release of `service` needs.
    fn required_approvals(&self, service: &str) -> u32;

    /// Who may approve releases of `service` (to mention them).
    fn approvers(&self, service: &str) -> Vec<Principal>;
}

macro_rules! forward_approver_policy {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: ApproverPolicy + ?Sized> ApproverPolicy for $ptr {
            async fn check(&self, check: &ApprovalCheck) -> Result<ApprovalVerdict, PolicyError> {
                (**self).check(check).await
            }
            fn required_approvals(&self, service: &str) -> u32 {
                (**self).required_approvals(service)
            }
            fn approvers(&self, service: &str) -> Vec<Principal> {
                (**self).approvers(service)
            }
        }
    };
}
forward_approver_policy!(Arc<T>);
forward_approver_policy!(Box<T>);
