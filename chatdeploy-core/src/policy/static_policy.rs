//! [`StaticPolicy`]: today's roles, fixed at load time from the catalog.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Action, ActionPolicy, ActionRequest, ApproverPolicy, Denial, PolicyError, Verdict, is_member,
};
use crate::catalog::Catalog;
use crate::chat::ChatSurface;
use crate::ids::{Principal, UserId};

/// The rules of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRule {
    /// Who may deploy and roll back; `None`: anyone (in a deploy channel).
    pub deployers: Option<Vec<Principal>>,
    /// Who may approve (users and user groups).
    pub approvers: Vec<Principal>,
    /// How many distinct approvals are needed (at least 1).
    pub min_approvals: u32,
    /// Whether the requester may approve their own release.
    pub allow_self_approval: bool,
}

/// An [`ActionPolicy`] and [`ApproverPolicy`] from fixed rules: the
/// catalog's deployers and approvers (with per-service overrides),
/// `min_approvals` and the self-approval rule.
///
/// - deploy, rollback: the service's deployers (anyone when none are set);
/// - lock, unlock: its deployers or approvers;
/// - cancel: the requester, a deployer or an approver;
/// - approve: an approver, not the requester (unless allowed), not twice;
/// - reject: an approver, the requester, or someone who approved.
///
/// User groups are resolved through the chat surface at each decision, so
/// a change of membership applies without a restart.
pub struct StaticPolicy {
    /// Rules by lowercase canonical service name.
    rules: HashMap<String, ServiceRule>,
    surface: Arc<dyn ChatSurface>,
}

impl fmt::Debug for StaticPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticPolicy")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl StaticPolicy {
    /// A policy with no services; add them with [`StaticPolicy::with_service`].
    pub fn new(surface: Arc<dyn ChatSurface>) -> Self {
        Self {
            rules: HashMap::new(),
            surface,
        }
    }

    /// The policy the catalog describes, for every service in it.
    pub fn from_catalog(catalog: &Catalog, surface: Arc<dyn ChatSurface>) -> Self {
        let allow_self_approval = catalog.approval().allow_self_approval();
        catalog
            .services()
            .fold(Self::new(surface), |policy, service| {
                policy.with_service(
                    service.name(),
                    ServiceRule {
                        deployers: service.deployers().map(<[Principal]>::to_vec),
                        approvers: service.approvers().to_vec(),
                        min_approvals: service.min_approvals(),
                        allow_self_approval,
                    },
                )
            })
    }

    /// Adds or replaces the rule of `service`.
    #[must_use]
    pub fn with_service(mut self, service: &str, mut rule: ServiceRule) -> Self {
        // Zero approvals would let a release through unapproved: fail closed.
        rule.min_approvals = rule.min_approvals.max(1);
        self.rules.insert(service.to_lowercase(), rule);
        self
    }

    fn rule(&self, service: &str) -> Option<&ServiceRule> {
        self.rules.get(&service.to_lowercase())
    }

    async fn member(&self, principals: &[Principal], user: &UserId) -> Result<bool, PolicyError> {
        is_member(&*self.surface, principals, user)
            .await
            .map_err(|(group, source)| PolicyError::Membership {
                group: group.to_string(),
                source,
            })
    }

    async fn deployer(&self, rule: &ServiceRule, user: &UserId) -> Result<bool, PolicyError> {
        match &rule.deployers {
            None => Ok(true),
            Some(deployers) => self.member(deployers, user).await,
        }
    }
}

#[async_trait]
impl ActionPolicy for StaticPolicy {
    async fn decide(&self, request: &ActionRequest) -> Result<Verdict, PolicyError> {
        let service = request.service.clone();
        let Some(rule) = self.rule(&service) else {
            return Ok(Verdict::Denied(Denial::UnknownService { service }));
        };
        let user = &request.user;
        let requester = request.release.as_ref().map(|r| &r.requester);
        let approved = request
            .release
            .as_ref()
            .is_some_and(|r| r.approved_by.contains(user));
        let denial = match request.action {
            Action::Deploy | Action::Rollback => {
                (!self.deployer(rule, user).await?).then_some(Denial::NotADeployer { service })
            }
            Action::Lock | Action::Unlock => (!self.deployer(rule, user).await?
                && !self.member(&rule.approvers, user).await?)
                .then_some(Denial::NotDeployerOrApprover {
                    service,
                    action: request.action,
                }),
            Action::Cancel => (requester != Some(user)
                && !self.deployer(rule, user).await?
                && !self.member(&rule.approvers, user).await?)
                .then_some(Denial::MayNotCancel { service }),
            Action::Approve => {
                if !self.member(&rule.approvers, user).await? {
                    Some(Denial::NotAnApprover { service })
                } else if requester == Some(user) && !rule.allow_self_approval {
                    Some(Denial::SelfApproval)
                } else if approved {
                    Some(Denial::AlreadyApproved)
                } else {
                    None
                }
            }
            // A requester may stop their own release, and a person who
            // approved may change their mind.
            Action::Reject => (requester != Some(user)
                && !approved
                && !self.member(&rule.approvers, user).await?)
                .then_some(Denial::NotAnApprover { service }),
        };
        Ok(denial.map_or(Verdict::Allowed, Verdict::Denied))
    }
}

impl ApproverPolicy for StaticPolicy {
    fn required_approvals(&self, service: &str) -> u32 {
        // Unknown services need an approval nobody can give: fail closed.
        self.rule(service).map_or(1, |rule| rule.min_approvals)
    }

    fn approvers(&self, service: &str) -> Vec<Principal> {
        self.rule(service)
            .map(|rule| rule.approvers.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::RecordingChatSurface;
    use crate::policy::ReleaseFacts;

    fn policy(allow_self_approval: bool) -> StaticPolicy {
        let surface = Arc::new(RecordingChatSurface::new().with_group("ops", &["U07"]));
        StaticPolicy::new(surface).with_service(
            "App",
            ServiceRule {
                deployers: Some(vec![Principal::User(UserId::new("U01"))]),
                approvers: vec![
                    Principal::User(UserId::new("U02")),
                    Principal::Group("ops".into()),
                ],
                min_approvals: 2,
                allow_self_approval,
            },
        )
    }

    fn ask(action: Action, user: &str, requester: &str, approved_by: &[&str]) -> ActionRequest {
        ActionRequest {
            action,
            user: user.into(),
            service: "app".into(),
            environment: None,
            release: Some(ReleaseFacts {
                requester: requester.into(),
                approved_by: approved_by.iter().map(|u| UserId::new(*u)).collect(),
            }),
        }
    }

    async fn decide(policy: &StaticPolicy, request: ActionRequest) -> Verdict {
        policy.decide(&request).await.unwrap()
    }

    #[tokio::test]
    async fn approvers_and_group_members_may_approve() {
        let policy = policy(false);
        assert!(
            decide(&policy, ask(Action::Approve, "U02", "U01", &[]))
                .await
                .is_allowed()
        );
        assert!(
            decide(&policy, ask(Action::Approve, "U07", "U01", &["U02"]))
                .await
                .is_allowed()
        );
        assert_eq!(policy.required_approvals("APP"), 2);
        assert_eq!(policy.approvers("app").len(), 2);
    }

    #[tokio::test]
    async fn denials_carry_the_reason() {
        let policy = policy(false);
        let denied = |d| Verdict::Denied(d);
        assert_eq!(
            decide(&policy, ask(Action::Approve, "U09", "U01", &[])).await,
            denied(Denial::NotAnApprover {
                service: "app".into()
            })
        );
        assert_eq!(
            decide(&policy, ask(Action::Approve, "U02", "U02", &[])).await,
            denied(Denial::SelfApproval)
        );
        assert_eq!(
            decide(&policy, ask(Action::Approve, "U02", "U01", &["U02"])).await,
            denied(Denial::AlreadyApproved)
        );
        assert_eq!(
            decide(&policy, ask(Action::Deploy, "U02", "U02", &[])).await,
            denied(Denial::NotADeployer {
                service: "app".into()
            })
        );
        assert_eq!(
            decide(&policy, ask(Action::Lock, "U09", "U09", &[])).await,
            denied(Denial::NotDeployerOrApprover {
                service: "app".into(),
                action: Action::Lock
            })
        );
        assert_eq!(
            decide(&policy, ask(Action::Cancel, "U09", "U01", &[])).await,
            denied(Denial::MayNotCancel {
                service: "app".into()
            })
        );
    }

    #[tokio::test]
    async fn who_may_do_the_rest() {
        let policy = policy(false);
        for (action, user) in [
            (Action::Deploy, "U01"),
            (Action::Rollback, "U01"),
            (Action::Lock, "U07"),
            (Action::Unlock, "U01"),
            (Action::Cancel, "U05"), // the requester
            (Action::Cancel, "U02"), // an approver
            (Action::Reject, "U05"), // the requester
            (Action::Reject, "U07"), // an approver by group
        ] {
            assert!(
                decide(&policy, ask(action, user, "U05", &[]))
                    .await
                    .is_allowed(),
                "{action:?} by {user}"
            );
        }
        assert!(
            !decide(&policy, ask(Action::Reject, "U09", "U05", &[]))
                .await
                .is_allowed()
        );
    }

    #[tokio::test]
    async fn self_approval_can_be_allowed() {
        let policy = policy(true);
        assert!(
            decide(&policy, ask(Action::Approve, "U02", "U02", &[]))
                .await
                .is_allowed()
        );
    }

    #[tokio::test]
    async fn unknown_services_fail_closed() {
        let policy = policy(false);
        let mut unknown = ask(Action::Approve, "U02", "U01", &[]);
        unknown.service = "db".into();
        assert!(!decide(&policy, unknown).await.is_allowed());
        assert_eq!(policy.required_approvals("db"), 1);
        assert!(policy.approvers("db").is_empty());
    }

    #[tokio::test]
    async fn zero_min_approvals_is_raised_to_one() {
        let surface = Arc::new(RecordingChatSurface::new());
        let policy = StaticPolicy::new(surface).with_service(
            "ui",
            ServiceRule {
                deployers: None,
                approvers: vec![],
                min_approvals: 0,
                allow_self_approval: false,
            },
        );
        assert_eq!(policy.required_approvals("ui"), 1);
        assert!(
            decide(
                &policy,
                ActionRequest {
                    action: Action::Deploy,
                    user: "anyone".into(),
                    service: "ui".into(),
                    environment: None,
                    release: None,
                }
            )
            .await
            .is_allowed(),
            "no deployers configured: anyone may deploy"
        );
    }
}
