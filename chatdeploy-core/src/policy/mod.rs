//! The [`ApproverPolicy`] trait: who approves a release, and how many
//! approvals it needs; with its sibling [`ActionPolicy`], which decides
//! every mutating action (who may deploy, roll back, cancel, lock, unlock,
//! approve and reject).
//!
//! A refusal is a [`Denial`] value with a sentence for the person, not an
//! error; errors are reserved for not being able to decide at all.

mod action;
mod membership;
mod static_policy;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::chat::ChatError;
use crate::ids::Principal;

#[cfg(any(test, feature = "test-util"))]
pub use action::MockActionPolicy;
pub use action::{Action, ActionPolicy, ActionRequest, ReleaseFacts, Verdict};
pub use membership::is_member;
pub use static_policy::{ServiceRule, StaticPolicy};

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Denial {
    /// The person is not a deployer of this service.
    NotADeployer {
        /// The service.
        service: String,
    },
    /// The person is neither a deployer nor an approver of this service.
    NotDeployerOrApprover {
        /// The service.
        service: String,
        /// What they tried, e.g. `lock`.
        action: Action,
    },
    /// Only the requester, a deployer or an approver may cancel.
    MayNotCancel {
        /// The service.
        service: String,
    },
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
    /// An embedder's own rule, with its sentence.
    Other {
        /// The sentence for the person.
        reason: String,
    },
}

impl Denial {
    /// One sentence for the person who asked.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotADeployer { service } => format!(
                "You are not a deployer of {service}; ask the platform team to add you to \
                 `deployers`."
            ),
            Self::NotDeployerOrApprover { service, action } => format!(
                "Only deployers and approvers of {service} can {} it.",
                action.as_str()
            ),
            Self::MayNotCancel { service } => format!(
                "Only the requester, a deployer or an approver of {service} can cancel this \
                 release."
            ),
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
                format!("{service} has no access policy, so nobody can change its releases.")
            }
            Self::Other { reason } => reason.clone(),
        }
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
    /// An embedder's policy could not decide.
    #[error("the policy could not decide: {message}")]
    Other {
        /// What happened.
        message: String,
    },
}

/// Who approves releases of a service, and how many approvals they need
/// (whether a person may approve is [`ActionPolicy`]'s question).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
pub trait ApproverPolicy: Send + Sync {
    /// How many distinct approvals a release of `service` needs.
    fn required_approvals(&self, service: &str) -> u32;

    /// Who may approve releases of `service` (to mention them).
    fn approvers(&self, service: &str) -> Vec<Principal>;
}

macro_rules! forward_approver_policy {
    ($ptr:ty) => {
        impl<T: ApproverPolicy + ?Sized> ApproverPolicy for $ptr {
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
