//! The IAM permissions the bot's calls need, as `iam:SimulatePrincipalPolicy`
//! takes them: each action on the resources the backend calls it on, with
//! the condition keys those calls carry (the start's tags, the execution's
//! tags, the service a role is passed to).
//!
//! [`release_checks`] lists what the releases of one service need;
//! [`SsmBackend::simulate_permissions`](crate::SsmBackend::simulate_permissions)
//! asks IAM whether the bot's principal has them.

mod release;

use chatdeploy_core::backend::BackendError;

pub use self::release::{ReleasePermissions, release_checks};

/// The type of a context entry's values, as IAM names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextKind {
    /// One string (`string`).
    String,
    /// A list of strings (`stringList`), e.g. `aws:TagKeys`.
    StringList,
}

/// One condition key and its values in a simulated request, e.g.
/// `aws:RequestTag/chatdeploy:service = app`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContextEntry {
    /// The condition key.
    pub key: String,
    /// Its values.
    pub values: Vec<String>,
    /// Their type.
    pub kind: ContextKind,
}

impl ContextEntry {
    /// A `string` entry.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            values: vec![value.into()],
            kind: ContextKind::String,
        }
    }

    /// A `stringList` entry.
    pub fn string_list(key: impl Into<String>, values: Vec<String>) -> Self {
        Self {
            key: key.into(),
            values,
            kind: ContextKind::StringList,
        }
    }
}

/// One action the bot calls, on the resources it calls it on, with the
/// request context of those calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The IAM action, e.g. `ssm:StartAutomationExecution`.
    pub action: String,
    /// The resource ARNs the action is authorized on.
    pub resources: Vec<String>,
    /// The condition keys the calls carry.
    pub context: Vec<ContextEntry>,
    /// What the bot cannot do without it, e.g. `start releases of app`.
    pub purpose: String,
    /// `false` for a permission the bot may not strictly need (AWS's
    /// guides grant it, its reference does not require it): a denial is
    /// worth a warning, not a failure.
    pub required: bool,
}

/// What IAM decided for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyDecision {
    /// A policy allows it and none denies it (`allowed`).
    Allowed,
    /// A statement denies it (`explicitDeny`): an identity policy, a
    /// permissions boundary or a service control policy.
    ExplicitDeny,
    /// No policy allows it (`implicitDeny`).
    ImplicitDeny,
}

impl PolicyDecision {
    /// The decision as IAM spells it, e.g. `implicitDeny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ExplicitDeny => "explicitDeny",
            Self::ImplicitDeny => "implicitDeny",
        }
    }

    /// The decision IAM spells `text`.
    pub fn from_name(text: &str) -> Option<Self> {
        [Self::Allowed, Self::ExplicitDeny, Self::ImplicitDeny]
            .into_iter()
            .find(|d| d.as_str() == text)
    }
}

/// The simulated decision for one action on one resource of a
/// [`PermissionCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PermissionVerdict {
    /// The IAM action.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// IAM's decision.
    pub decision: PolicyDecision,
    /// Condition keys the policies need that the simulation did not carry.
    pub missing_context: Vec<String>,
    /// What denied it besides the identity policies, when IAM says: `a
    /// service control policy` or `the permissions boundary`.
    pub denied_by: Option<&'static str>,
    /// The check's purpose.
    pub purpose: String,
    /// The check's [`PermissionCheck::required`].
    pub required: bool,
}

impl PermissionVerdict {
    /// A verdict of a required check with no purpose, no missing context
    /// and nothing but the identity policies behind it (e.g. to test what
    /// is made of verdicts).
    pub fn new(
        action: impl Into<String>,
        resource: impl Into<String>,
        decision: PolicyDecision,
    ) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            decision,
            missing_context: Vec::new(),
            denied_by: None,
            purpose: String::new(),
            required: true,
        }
    }

    /// Whether the action is allowed on the resource.
    pub fn allowed(&self) -> bool {
        self.decision == PolicyDecision::Allowed
    }
}

/// The principal whose policies are simulated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BotPrincipal {
    /// The caller's ARN as STS names it (e.g. an assumed-role session).
    pub caller: String,
    /// The IAM user or role whose policies apply (`PolicySourceArn`).
    pub policy_source: String,
    /// The partition, e.g. `aws`.
    pub partition: String,
    /// The account ID.
    pub account: String,
}

impl BotPrincipal {
    /// The principal behind `caller_arn`: an IAM user or role as is, the
    /// role of an assumed-role session.
    ///
    /// # Errors
    ///
    /// [`PermissionsError::UnknownPrincipal`] for the root user, a
    /// federated user or anything that is no IAM principal's ARN.
    pub fn from_caller(caller_arn: &str) -> Result<Self, PermissionsError> {
        let (policy_source, partition, account) = crate::arn::policy_source(caller_arn)
            .ok_or_else(|| PermissionsError::UnknownPrincipal {
                caller: caller_arn.to_owned(),
            })?;
        Ok(Self {
            caller: caller_arn.to_owned(),
            policy_source,
            partition: partition.to_owned(),
            account: account.to_owned(),
        })
    }
}

/// Why the permissions could not be simulated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PermissionsError {
    /// The backend was built without an IAM client.
    #[error("this backend has no IAM client (SsmBackendBuilder::with_iam_client)")]
    NoIamClient,
    /// STS could not say who the bot is.
    #[error("cannot ask STS who the bot is")]
    Identity(#[source] BackendError),
    /// The caller is no IAM user, role or assumed-role session.
    #[error(
        "the bot's principal cannot be derived from {caller}: only IAM users, roles and \
         assumed-role sessions can be simulated"
    )]
    UnknownPrincipal {
        /// The caller's ARN.
        caller: String,
    },
    /// AWS refused `iam:SimulatePrincipalPolicy` itself.
    #[error("AWS refused iam:SimulatePrincipalPolicy on {principal}: {message}")]
    SimulationDenied {
        /// The simulated principal.
        principal: String,
        /// AWS's message.
        message: String,
    },
    /// IAM has no such principal (e.g. a role with a path, whose
    /// assumed-role ARN does not carry the path).
    #[error(
        "IAM has no principal {principal} ({message}); a role with a path cannot be named \
         from its session's ARN"
    )]
    NoSuchPrincipal {
        /// The simulated principal.
        principal: String,
        /// AWS's message.
        message: String,
    },
    /// The simulation failed otherwise (throttled, unreachable, invalid).
    #[error("the simulation failed")]
    Backend(#[source] BackendError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> BotPrincipal {
        BotPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/chatdeploy/s-1").unwrap()
    }

    #[test]
    fn principals_are_users_and_roles() {
        let bot = principal();
        assert_eq!(
            bot.policy_source,
            "arn:aws:iam::111122223333:role/chatdeploy"
        );
        assert_eq!(
            (bot.partition.as_str(), bot.account.as_str()),
            ("aws", "111122223333")
        );
        assert!(matches!(
            BotPrincipal::from_caller("arn:aws:iam::111122223333:root"),
            Err(PermissionsError::UnknownPrincipal { caller }) if caller.ends_with(":root")
        ));
    }

    #[test]
    fn decisions_spell_as_iam_does() {
        for d in [
            PolicyDecision::Allowed,
            PolicyDecision::ExplicitDeny,
            PolicyDecision::ImplicitDeny,
        ] {
            assert_eq!(PolicyDecision::from_name(d.as_str()), Some(d));
        }
        assert_eq!(PolicyDecision::from_name("denied"), None);
    }
}
