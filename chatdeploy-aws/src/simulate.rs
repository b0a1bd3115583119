//! [`SsmBackend::simulate_permissions`]: the bot's own policies, asked with
//! `iam:SimulatePrincipalPolicy`.

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{
    ContextEntry as IamContextEntry, ContextKeyTypeEnum, EvaluationResult,
    PolicyEvaluationDecisionType,
};
use chatdeploy_core::backend::BackendError;

use crate::SsmBackend;
use crate::errors::{self, Operation, Subject};
use crate::permissions::{
    BotPrincipal, ContextEntry, ContextKind, PermissionCheck, PermissionVerdict, PermissionsError,
    PolicyDecision, ReleasePermissions,
};

/// One decision of a simulation, before it is matched to its check.
#[derive(Debug, Clone)]
struct Answer {
    action: String,
    /// `None`: the action's decision on every resource.
    resource: Option<String>,
    decision: PolicyDecision,
    missing_context: Vec<String>,
    denied_by: Option<&'static str>,
}

impl SsmBackend {
    /// The principal whose policies apply to the bot's calls: the caller
    /// STS names ([`SsmBackend::identity`]), an assumed-role session
    /// turned into its role.
    ///
    /// # Errors
    ///
    /// [`PermissionsError::Identity`] when STS cannot be asked,
    /// [`PermissionsError::UnknownPrincipal`] when the caller is no IAM
    /// user, role or assumed-role session.
    pub async fn bot_principal(&self) -> Result<BotPrincipal, PermissionsError> {
        let caller = self.identity().await.map_err(PermissionsError::Identity)?;
        BotPrincipal::from_caller(&caller)
    }

    /// What the releases of one service need from IAM, in this backend's
    /// region (see [`crate::permissions::release_checks`]).
    pub fn release_permissions(
        &self,
        principal: &BotPrincipal,
        release: &ReleasePermissions<'_>,
    ) -> Vec<PermissionCheck> {
        crate::permissions::release_checks(principal, &self.region, release)
    }

    /// Asks IAM (`iam:SimulatePrincipalPolicy`) whether `principal`'s
    /// policies allow each check's action on each of its resources, with
    /// its context. Checks with the same resources and context share a
    /// call. The verdicts come in the order of the checks and their
    /// resources.
    ///
    /// # Errors
    ///
    /// [`PermissionsError::SimulationDenied`] when the simulation itself
    /// is refused, [`PermissionsError::NoSuchPrincipal`] when IAM has no
    /// such principal, [`PermissionsError::NoIamClient`] without an IAM
    /// client, and [`PermissionsError::Backend`] for other failures.
    pub async fn simulate_permissions(
        &self,
        principal: &BotPrincipal,
        checks: &[PermissionCheck],
    ) -> Result<Vec<PermissionVerdict>, PermissionsError> {
        let iam = self.iam.as_ref().ok_or(PermissionsError::NoIamClient)?;
        let groups = groups(checks);
        let mut answers: Vec<(usize, Answer)> = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            let found = simulate(
                iam,
                principal,
                &group.actions,
                group.resources,
                group.context,
            );
            answers.extend(found.await?.into_iter().map(|a| (index, a)));
        }
        verdicts(checks, &groups, &answers)
    }
}

/// Checks with the same resources and context, simulated in one call.
#[derive(Debug)]
struct Group<'a> {
    resources: &'a [String],
    context: &'a [ContextEntry],
    actions: Vec<&'a str>,
}

impl Group<'_> {
    fn holds(&self, check: &PermissionCheck) -> bool {
        self.resources == check.resources.as_slice() && self.context == check.context.as_slice()
    }
}

fn groups(checks: &[PermissionCheck]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for check in checks {
        match groups.iter_mut().find(|g| g.holds(check)) {
            Some(group) if !group.actions.contains(&check.action.as_str()) => {
                group.actions.push(&check.action);
            }
            Some(_) => {}
            None => groups.push(Group {
                resources: &check.resources,
                context: &check.context,
                actions: vec![&check.action],
            }),
        }
    }
    groups
}

/// The checks' verdicts, one per action and resource, from the answers of
/// their groups' calls: per resource when IAM said, the action's decision
/// otherwise.
fn verdicts(
    checks: &[PermissionCheck],
    groups: &[Group<'_>],
    answers: &[(usize, Answer)],
) -> Result<Vec<PermissionVerdict>, PermissionsError> {
    checks
        .iter()
        .flat_map(|check| check.resources.iter().map(move |r| (check, r)))
        .map(|(check, resource)| {
            let index = groups.iter().position(|g| g.holds(check));
            let found = answers
                .iter()
                .filter(|(i, a)| Some(*i) == index && a.action.eq_ignore_ascii_case(&check.action))
                .map(|(_, a)| a);
            let answer = found
                .clone()
                .find(|a| a.resource.as_deref() == Some(resource))
                .or_else(|| found.clone().find(|a| a.resource.is_none()))
                .or_else(|| {
                    // One result for the action: it decides (IAM may spell
                    // the resource its own way).
                    let mut only = found.clone();
                    only.next().filter(|_| only.next().is_none())
                })
                .ok_or_else(|| {
                    PermissionsError::Backend(BackendError::Other {
                        operation: Operation::SimulatePrincipalPolicy.name().to_owned(),
                        message: format!(
                            "the simulation has no result for {} on {resource}",
                            check.action
                        ),
                    })
                })?;
            Ok(PermissionVerdict {
                action: check.action.clone(),
                resource: resource.clone(),
                decision: answer.decision,
                missing_context: answer.missing_context.clone(),
                denied_by: answer.denied_by,
                purpose: check.purpose.clone(),
                required: check.required,
            })
        })
        .collect()
}

/// One `SimulatePrincipalPolicy` call, page by page.
async fn simulate(
    iam: &aws_sdk_iam::Client,
    principal: &BotPrincipal,
    actions: &[&str],
    resources: &[String],
    context: &[ContextEntry],
) -> Result<Vec<Answer>, PermissionsError> {
    let subject = Subject {
        operation: Operation::SimulatePrincipalPolicy,
        what: format!("the policies of {}", principal.policy_source),
        token: None,
    };
    let entries = context.iter().map(|entry| {
        IamContextEntry::builder()
            .context_key_name(&entry.key)
            .set_context_key_values(Some(entry.values.clone()))
            .context_key_type(match entry.kind {
                ContextKind::String => ContextKeyTypeEnum::String,
                ContextKind::StringList => ContextKeyTypeEnum::StringList,
            })
            .build()
    });
    let entries: Vec<IamContextEntry> = entries.collect();
    let mut answers = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .simulate_principal_policy()
            .policy_source_arn(&principal.policy_source)
            .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()))
            .set_resource_arns(Some(resources.to_vec()))
            .set_context_entries((!entries.is_empty()).then(|| entries.clone()))
            .set_marker(marker.take())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                let message = error.message().unwrap_or_default().to_owned();
                let principal = principal.policy_source.clone();
                return Err(match error.code() {
                    Some("AccessDenied" | "AccessDeniedException") => {
                        PermissionsError::SimulationDenied { principal, message }
                    }
                    Some("NoSuchEntity") => {
                        PermissionsError::NoSuchPrincipal { principal, message }
                    }
                    _ => PermissionsError::Backend(errors::from_sdk(&subject, error)),
                });
            }
        };
        answers.extend(page.evaluation_results().iter().flat_map(answers_of));
        match page.marker() {
            Some(next) if page.is_truncated() && !next.is_empty() => {
                marker = Some(next.to_owned());
            }
            _ => return Ok(answers),
        }
    }
}

fn decision(decision: &PolicyEvaluationDecisionType) -> PolicyDecision {
    // An unknown decision is no allow.
    PolicyDecision::from_name(decision.as_str()).unwrap_or(PolicyDecision::ImplicitDeny)
}

/// A result's decisions: per resource when IAM lists them
/// (`ResourceSpecificResults`), the action's otherwise.
fn answers_of(result: &EvaluationResult) -> Vec<Answer> {
    let action = result.eval_action_name().to_owned();
    let organizations = result
        .organizations_decision_detail()
        .is_some_and(|d| !d.allowed_by_organizations());
    let boundary = |detail: Option<&aws_sdk_iam::types::PermissionsBoundaryDecisionDetail>| {
        detail.is_some_and(|d| !d.allowed_by_permissions_boundary())
    };
    let denied_by = |boundary: bool| {
        if organizations {
            Some("a service control policy")
        } else if boundary {
            Some("the permissions boundary")
        } else {
            None
        }
    };
    let top_boundary = boundary(result.permissions_boundary_decision_detail());
    let mut answers: Vec<Answer> = result
        .resource_specific_results()
        .iter()
        .map(|specific| {
            let decided = decision(specific.eval_resource_decision());
            Answer {
                action: action.clone(),
                resource: Some(specific.eval_resource_name().to_owned()),
                decision: decided,
                missing_context: specific.missing_context_values().to_vec(),
                denied_by: (decided != PolicyDecision::Allowed)
                    .then(|| denied_by(boundary(specific.permissions_boundary_decision_detail())))
                    .flatten(),
            }
        })
        .collect();
    let decided = decision(result.eval_decision());
    answers.push(Answer {
        action,
        resource: match result.resource_specific_results() {
            [] => result.eval_resource_name().map(str::to_owned),
            // The aggregate of the resources above.
            _ => None,
        },
        decision: decided,
        missing_context: result.missing_context_values().to_vec(),
        denied_by: (decided != PolicyDecision::Allowed)
            .then(|| denied_by(top_boundary))
            .flatten(),
    });
    answers
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::types::builders::EvaluationResultBuilder;
    use aws_sdk_iam::types::{
        OrganizationsDecisionDetail, PermissionsBoundaryDecisionDetail, ResourceSpecificResult,
    };

    use super::*;

    fn check(action: &str, resources: &[&str]) -> PermissionCheck {
        PermissionCheck {
            action: action.into(),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            context: vec![ContextEntry::string("aws:RequestTag/k", "v")],
            purpose: "do it".into(),
            required: true,
        }
    }

    fn builder(action: &str, resource: Option<&str>, decision: &str) -> EvaluationResultBuilder {
        EvaluationResult::builder()
            .eval_action_name(action)
            .set_eval_resource_name(resource.map(str::to_owned))
            .eval_decision(PolicyEvaluationDecisionType::from(decision))
    }

    fn result(action: &str, resource: Option<&str>, decision: &str) -> EvaluationResult {
        builder(action, resource, decision).build().unwrap()
    }

    fn answers(results: &[EvaluationResult]) -> Vec<(usize, Answer)> {
        results
            .iter()
            .flat_map(answers_of)
            .map(|a| (0, a))
            .collect()
    }

    #[test]
    fn one_result_per_resource_or_per_action() {
        let checks = [check("ssm:GetDocument", &["arn:x", "arn:y"])];
        let groups = groups(&checks);
        assert_eq!(groups.len(), 1);
        // As IAM answered before: one result per action and resource.
        let old = answers(&[
            result("ssm:GetDocument", Some("arn:x"), "allowed"),
            result("ssm:GetDocument", Some("arn:y"), "implicitDeny"),
        ]);
        let found = verdicts(&checks, &groups, &old).unwrap();
        let decisions: Vec<_> = found.iter().map(|v| v.decision).collect();
        assert_eq!(
            decisions,
            [PolicyDecision::Allowed, PolicyDecision::ImplicitDeny]
        );
        // As IAM answers now: one per action, per resource inside.
        let specific = |resource: &str, decision: &str| {
            ResourceSpecificResult::builder()
                .eval_resource_name(resource)
                .eval_resource_decision(PolicyEvaluationDecisionType::from(decision))
                .missing_context_values("aws:ResourceTag/k")
                .build()
                .unwrap()
        };
        let now = builder("SSM:getDocument", None, "explicitDeny")
            .resource_specific_results(specific("arn:x", "explicitDeny"))
            .resource_specific_results(specific("arn:y", "allowed"))
            .organizations_decision_detail(
                OrganizationsDecisionDetail::builder()
                    .allowed_by_organizations(false)
                    .build(),
            );
        let found = verdicts(&checks, &groups, &answers(&[now.build().unwrap()])).unwrap();
        assert_eq!(found[0].decision, PolicyDecision::ExplicitDeny);
        assert_eq!(found[0].denied_by, Some("a service control policy"));
        assert_eq!(found[0].missing_context, ["aws:ResourceTag/k"]);
        assert_eq!(found[1].decision, PolicyDecision::Allowed);
        assert_eq!(found[1].denied_by, None);
        // Only the aggregate: it decides every resource.
        let boundary = builder("ssm:GetDocument", None, "implicitDeny")
            .permissions_boundary_decision_detail(
                PermissionsBoundaryDecisionDetail::builder()
                    .allowed_by_permissions_boundary(false)
                    .build(),
            )
            .build()
            .unwrap();
        let found = verdicts(&checks, &groups, &answers(&[boundary])).unwrap();
        assert!(
            found
                .iter()
                .all(|v| v.denied_by == Some("the permissions boundary"))
        );
        // Nothing about the action: an error, never an allow.
        let other = answers(&[result("ssm:GetDocuments", None, "allowed")]);
        assert!(matches!(
            verdicts(&checks, &groups, &other),
            Err(PermissionsError::Backend(_))
        ));
    }

    #[test]
    fn checks_with_the_same_resources_and_context_share_a_call() {
        let mut other_context = check("ssm:GetDocument", &["arn:x"]);
        other_context.context.clear();
        let checks = [
            check("ssm:GetDocument", &["arn:x"]),
            check("ssm:DescribeDocument", &["arn:x"]),
            check("ssm:GetDocument", &["arn:x"]),
            other_context,
            check("ssm:GetDocument", &["arn:x", "arn:y"]),
        ];
        let groups = groups(&checks);
        let actions: Vec<&[&str]> = groups.iter().map(|g| g.actions.as_slice()).collect();
        assert_eq!(
            actions,
            [
                &["ssm:GetDocument", "ssm:DescribeDocument"][..],
                &["ssm:GetDocument"],
                &["ssm:GetDocument"]
            ]
        );
    }
}
