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
        // Checks with the same resources and context: one call.
        let mut groups: Vec<(&[String], &[ContextEntry], Vec<&str>)> = Vec::new();
        for check in checks {
            let key = (check.resources.as_slice(), check.context.as_slice());
            match groups.iter_mut().find(|g| (g.0, g.1) == key) {
                Some(group) if !group.2.contains(&check.action.as_str()) => {
                    group.2.push(&check.action);
                }
                Some(_) => {}
                None => groups.push((key.0, key.1, vec![&check.action])),
            }
        }
        let mut answers: Vec<(usize, Answer)> = Vec::new();
        for (index, (resources, context, actions)) in groups.iter().enumerate() {
            for answer in simulate(iam, principal, actions, resources, context).await? {
                answers.push((index, answer));
            }
        }
        checks
            .iter()
            .flat_map(|check| check.resources.iter().map(move |r| (check, r)))
            .map(|(check, resource)| {
                let index = groups
                    .iter()
                    .position(|g| (g.0, g.1) == (check.resources.as_slice(), &check.context[..]))
                    .unwrap_or_default();
                let found = answers
                    .iter()
                    .filter(|(i, a)| *i == index && a.action.eq_ignore_ascii_case(&check.action))
                    .map(|(_, a)| a);
                // Per resource if IAM said, the action's decision otherwise.
                let answer = found
                    .clone()
                    .find(|a| a.resource.as_deref() == Some(resource))
                    .or_else(|| found.clone().find(|a| a.resource.is_none()))
                    .or_else(|| {
                        // One result for the action: it decides (IAM may
                        // spell the resource its own way).
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
