//! An approver policy fixed at load time, from the catalog.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::{ApprovalCheck, ApprovalVerdict, ApproverPolicy, Denial, PolicyError, is_member};
use crate::catalog::Catalog;
use crate::chat::ChatSurface;
use crate::ids::Principal;

/// The approval rule of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceApprovalRule {
    /// Who may approve (users and user groups).
    pub approvers: Vec<Principal>,
    /// How many distinct approvals are needed (at least 1).
    pub min_approvals: u32,
    /// Whether the requester may approve their own release.
    pub allow_self_approval: bool,
}

/// An [`ApproverPolicy`] from fixed rules: the catalog's approvers (with
/// per-service overrides), `min_approvals` and the self-approval rule. User
/// groups are resolved through the chat surface at each check, so a change
/// of membership applies without a restart.
pub struct StaticApproverPolicy {
    /// Rules by lowercase canonical service name.
    rules: HashMap<String, ServiceApprovalRule>,
    surface: Arc<dyn ChatSurface>,
}

impl fmt::Debug for StaticApproverPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticApproverPolicy")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl StaticApproverPolicy {
    /// A policy with no services; add them with
    /// [`StaticApproverPolicy::with_service`].
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
                    ServiceApprovalRule {
                        approvers: service.approvers().to_vec(),
                        min_approvals: service.min_approvals(),
                        allow_self_approval,
                    },
                )
            })
    }

    /// Adds or replaces the rule of `service`.
    #[must_use]
    pub fn with_service(mut self, service: &str, mut rule: ServiceApprovalRule) -> Self {
        // Zero approvals would let a release through unapproved: fail closed.
        rule.min_approvals = rule.min_approvals.max(1);
        self.rules.insert(service.to_lowercase(), rule);
        self
    }

    fn rule(&self, service: &str) -> Option<&ServiceApprovalRule> {
        self.rules.get(&service.to_lowercase())
    }
}

#[async_trait]
impl ApproverPolicy for StaticApproverPolicy {
    async fn check(&self, check: &ApprovalCheck) -> Result<ApprovalVerdict, PolicyError> {
        let Some(rule) = self.rule(&check.service) else {
            return Ok(ApprovalVerdict::Denied(Denial::UnknownService {
                service: check.service.clone(),
            }));
        };
        let member = is_member(&*self.surface, &rule.approvers, &check.approver)
            .await
            .map_err(|(group, source)| PolicyError::Membership {
                group: group.to_string(),
                source,
            })?;
        if !member {
            return Ok(ApprovalVerdict::Denied(Denial::NotAnApprover {
                service: check.service.clone(),
            }));
        }
        if check.approver == check.requester && !rule.allow_self_approval {
            return Ok(ApprovalVerdict::Denied(Denial::SelfApproval));
        }
        if check.approved_by.contains(&check.approver) {
            return Ok(ApprovalVerdict::Denied(Denial::AlreadyApproved));
        }
        Ok(ApprovalVerdict::Allowed)
    }

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
    use crate::ids::UserId;

    fn policy(allow_self_approval: bool) -> StaticApproverPolicy {
        let surface = Arc::new(RecordingChatSurface::new().with_group("S0OPS", &["U07"]));
        StaticApproverPolicy::new(surface).with_service(
            "App",
            ServiceApprovalRule {
                approvers: vec![
                    Principal::User(UserId::new("U02")),
                    Principal::Group("S0OPS".into()),
                ],
                min_approvals: 2,
                allow_self_approval,
            },
        )
    }

    fn check(approver: &str, requester: &str, approved_by: &[&str]) -> ApprovalCheck {
        ApprovalCheck {
            service: "app".into(),
            requester: requester.into(),
            approver: approver.into(),
            approved_by: approved_by.iter().map(|u| UserId::new(*u)).collect(),
        }
    }

    #[tokio::test]
    async fn approvers_and_group_members_are_allowed() {
        let policy = policy(false);
        assert!(
            policy
                .check(&check("U02", "U01", &[]))
                .await
                .unwrap()
                .is_allowed()
        );
        assert!(
            policy
                .check(&check("U07", "U01", &["U02"]))
                .await
                .unwrap()
                .is_allowed()
        );
        assert_eq!(policy.required_approvals("APP"), 2);
        assert_eq!(policy.approvers("app").len(), 2);
    }

    #[tokio::test]
    async fn denials_carry_the_reason() {
        let policy = policy(false);
        assert_eq!(
            policy.check(&check("U09", "U01", &[])).await.unwrap(),
            ApprovalVerdict::Denied(Denial::NotAnApprover {
                service: "app".into()
            })
        );
        assert_eq!(
            policy.check(&check("U02", "U02", &[])).await.unwrap(),
            ApprovalVerdict::Denied(Denial::SelfApproval)
        );
        assert_eq!(
            policy.check(&check("U02", "U01", &["U02"])).await.unwrap(),
            ApprovalVerdict::Denied(Denial::AlreadyApproved)
        );
    }

    #[tokio::test]
    async fn self_approval_can_be_allowed() {
        let policy = policy(true);
        assert!(
            policy
                .check(&check("U02", "U02", &[]))
                .await
                .unwrap()
                .is_allowed()
        );
    }

    #[tokio::test]
    async fn unknown_services_fail_closed() {
        let policy = policy(false);
        let mut unknown = check("U02", "U01", &[]);
        unknown.service = "db".into();
        assert!(!policy.check(&unknown).await.unwrap().is_allowed());
        assert_eq!(policy.required_approvals("db"), 1);
        assert!(policy.approvers("db").is_empty());
    }

    #[tokio::test]
    async fn zero_min_approvals_is_raised_to_one() {
        let surface = Arc::new(RecordingChatSurface::new());
        let policy = StaticApproverPolicy::new(surface).with_service(
            "ui",
            ServiceApprovalRule {
                approvers: vec![],
                min_approvals: 0,
                allow_self_approval: false,
            },
        );
        assert_eq!(policy.required_approvals("ui"), 1);
    }
}
