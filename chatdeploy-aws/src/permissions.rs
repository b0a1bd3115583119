//! The IAM permissions the bot's calls need, as `iam:SimulatePrincipalPolicy`
//! takes them: each action on the resources the backend calls it on, with
//! the condition keys those calls carry (the start's tags, the execution's
//! tags, the service a role is passed to).
//!
//! [`release_checks`] lists what the releases of one service need;
//! [`SsmBackend::simulate_permissions`](crate::SsmBackend::simulate_permissions)
//! asks IAM whether the bot's principal has them.

use chatdeploy_core::backend::{BackendError, StartRequest};

use crate::deploy::start_tags;

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

/// What the releases of one service do, as far as permissions go.
#[derive(Debug, Clone)]
pub struct ReleasePermissions<'a> {
    /// A start as a release of the service makes (its document, pinned
    /// version and tags), e.g. `chatdeploy_core::preflight::sample_request`.
    pub request: &'a StartRequest,
    /// Whether the bot reads the document's approval step and signals it
    /// (`approval = "document"`).
    pub approves: bool,
    /// The roles the starts pass to SSM (`AutomationAssumeRole`).
    pub pass_roles: Vec<String>,
}

/// Document name prefixes AWS reserves for its own documents, whose ARNs
/// have no account.
const RESERVED_PREFIXES: [&str; 3] = ["aws", "amazon", "amzn"];

/// The document ARN and the automation-definition ARN (at `version`) of
/// `document`, a name or a shared document's ARN.
pub(crate) fn document_arns(
    principal: &BotPrincipal,
    region: &str,
    document: &str,
    version: &str,
) -> (String, String) {
    if document.starts_with("arn:") && document.contains(":document/") {
        let definition = document.replacen(":document/", ":automation-definition/", 1);
        return (document.to_owned(), format!("{definition}:{version}"));
    }
    let lower = document.to_ascii_lowercase();
    let owner = if RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        ""
    } else {
        principal.account.as_str()
    };
    let base = format!("arn:{}:ssm:{region}:{owner}", principal.partition);
    (
        format!("{base}:document/{document}"),
        format!("{base}:automation-definition/{document}:{version}"),
    )
}

/// What the releases of one service need, call by call, in `region`:
///
/// - `ssm:StartAutomationExecution` on the document's automation
///   definition (at the pinned version, `$DEFAULT` otherwise) and on the
///   execution it creates, with the start's tags as `aws:RequestTag/…` and
///   `aws:TagKeys`; `ssm:AddTagsToResource` on the execution likewise (not
///   [`required`](PermissionCheck::required));
/// - `ssm:DescribeDocument` on the document, and `ssm:GetDocument` when the
///   bot reads its approval step;
/// - `ssm:GetAutomationExecution`, `ssm:DescribeAutomationStepExecutions`,
///   `ssm:StopAutomationExecution`, and `ssm:SendAutomationSignal` when the
///   bot approves, on `automation-execution/*` carrying the start's tags
///   (`aws:ResourceTag/…`);
/// - `iam:PassRole` on each role passed, to `ssm.amazonaws.com`
///   (`iam:PassedToService`).
pub fn release_checks(
    principal: &BotPrincipal,
    region: &str,
    release: &ReleasePermissions<'_>,
) -> Vec<PermissionCheck> {
    let request = release.request;
    let service = &request.service;
    let version = request.document_version.as_deref().unwrap_or("$DEFAULT");
    let (document, definition) = document_arns(principal, region, &request.document, version);
    let executions = format!(
        "arn:{}:ssm:{region}:{}:automation-execution/*",
        principal.partition, principal.account
    );
    let tags = start_tags(request);
    let mut requested: Vec<ContextEntry> = tags
        .iter()
        .map(|(k, v)| ContextEntry::string(format!("aws:RequestTag/{k}"), *v))
        .collect();
    requested.push(ContextEntry::string_list(
        "aws:TagKeys",
        tags.iter().map(|(k, _)| (*k).to_owned()).collect(),
    ));
    let tagged: Vec<ContextEntry> = tags
        .iter()
        .map(|(k, v)| ContextEntry::string(format!("aws:ResourceTag/{k}"), *v))
        .collect();
    let check = |action: &str, resources: &[&String], context: &[ContextEntry], purpose: String| {
        PermissionCheck {
            action: action.to_owned(),
            resources: resources.iter().map(|r| (*r).clone()).collect(),
            context: context.to_vec(),
            purpose,
            required: true,
        }
    };
    let mut checks = vec![
        check(
            "ssm:StartAutomationExecution",
            &[&definition, &executions],
            &requested,
            format!("start releases of {service}"),
        ),
        PermissionCheck {
            required: false,
            ..check(
                "ssm:AddTagsToResource",
                &[&executions],
                &requested,
                format!("tag the executions of {service} as it starts them"),
            )
        },
        check(
            "ssm:DescribeDocument",
            &[&document],
            &[],
            format!("read the parameters of document {}", request.document),
        ),
    ];
    if release.approves {
        checks.push(check(
            "ssm:GetDocument",
            &[&document],
            &[],
            format!("read the approval step of document {}", request.document),
        ));
    }
    checks.push(check(
        "ssm:GetAutomationExecution",
        &[&executions],
        &tagged,
        format!("follow releases of {service}"),
    ));
    checks.push(check(
        "ssm:DescribeAutomationStepExecutions",
        &[&executions],
        &tagged,
        format!("read every step of long releases of {service}"),
    ));
    if release.approves {
        checks.push(check(
            "ssm:SendAutomationSignal",
            &[&executions],
            &tagged,
            format!("answer the approval step of releases of {service}"),
        ));
    }
    checks.push(check(
        "ssm:StopAutomationExecution",
        &[&executions],
        &tagged,
        format!("cancel releases of {service}"),
    ));
    let passed = [ContextEntry::string(
        "iam:PassedToService",
        "ssm.amazonaws.com",
    )];
    for role in &release.pass_roles {
        checks.push(check(
            "iam:PassRole",
            &[role],
            &passed,
            format!("pass {role} to SSM (AutomationAssumeRole of {service})"),
        ));
    }
    checks
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
    fn documents_are_named_by_owner() {
        let bot = principal();
        assert_eq!(
            document_arns(&bot, "eu-west-1", "Deploy-App", "$DEFAULT"),
            (
                "arn:aws:ssm:eu-west-1:111122223333:document/Deploy-App".to_owned(),
                "arn:aws:ssm:eu-west-1:111122223333:automation-definition/Deploy-App:$DEFAULT"
                    .to_owned()
            )
        );
        assert_eq!(
            document_arns(&bot, "eu-west-1", "AWS-RestartEC2Instance", "3").1,
            "arn:aws:ssm:eu-west-1::automation-definition/AWS-RestartEC2Instance:3"
        );
        let shared = "arn:aws:ssm:eu-west-1:444455556666:document/Shared";
        assert_eq!(
            document_arns(&bot, "eu-west-1", shared, "2"),
            (
                shared.to_owned(),
                "arn:aws:ssm:eu-west-1:444455556666:automation-definition/Shared:2".to_owned()
            )
        );
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
