//! The permissions part of `check`: every call the bot makes for the
//! configured services, simulated for the bot's own principal with
//! `iam:SimulatePrincipalPolicy`. One `ok` line when all are allowed, a
//! `FAIL` line per denied action and resource, and a `skip` when they
//! could not be verified.

use std::collections::BTreeSet;

use chatdeploy_aws::{
    BotPrincipal, PermissionCheck, PermissionVerdict, PermissionsError, PolicyDecision,
    ReleasePermissions, SsmBackend,
};
use chatdeploy_core::backend::DocumentDescription;
use chatdeploy_core::catalog::{ApprovalMode, Placeholder, TemplateContext};
use chatdeploy_core::{Service, preflight};

use super::CheckSummary;
use crate::error::sentence;

/// The part's name in `skip` lines and the verdict.
const PART: &str = "permissions";

/// The parameter that names the role SSM runs a document as.
const ASSUME_ROLE: &str = "AutomationAssumeRole";

/// The shipped policy, which grants each action in a statement of its own.
const POLICY_FILE: &str = "deploy/iam-policy.json";

/// The statement of [`POLICY_FILE`] that grants `action`.
fn statement(action: &str) -> Option<&'static str> {
    Some(match action {
        "ssm:StartAutomationExecution" => "StartOnlyTheConfiguredDocumentsTaggedAsChatdeploys",
        "ssm:AddTagsToResource" => "TagExecutionsAtStartWithChatdeploysKeysOnly",
        "ssm:DescribeDocument" | "ssm:GetDocument" => "ReadTheConfiguredDocuments",
        "ssm:GetAutomationExecution"
        | "ssm:DescribeAutomationStepExecutions"
        | "ssm:SendAutomationSignal"
        | "ssm:StopAutomationExecution" => "WatchApproveAndStopOnlyChatdeploysExecutions",
        "iam:PassRole" => "PassOnlyTheAutomationRoleToSsm",
        _ => return None,
    })
}

/// A service and its document's declaration, when it could be read.
pub(super) type Described<'a> = (&'a Service, Option<DocumentDescription>);

pub(super) async fn check(
    backend: &SsmBackend,
    services: &[Described<'_>],
    summary: &mut CheckSummary,
) {
    let principal = match backend.bot_principal().await {
        Ok(principal) => principal,
        Err(error) => return summary.skip(PART, &not_verified(&error)),
    };
    let mut checks: Vec<PermissionCheck> = Vec::new();
    for (service, document) in services {
        let request = preflight::sample_request(service);
        let pass_roles = match pass_roles(service, document.as_ref()) {
            Ok(roles) => roles,
            Err(why) => {
                summary.warn(&format!(
                    "service {}: iam:PassRole not verified: {why}",
                    service.name()
                ));
                Vec::new()
            }
        };
        let release = ReleasePermissions {
            request: &request,
            approves: service.approval_mode() == ApprovalMode::Document,
            pass_roles,
        };
        checks.extend(backend.release_permissions(&principal, &release));
    }
    if checks.is_empty() {
        return;
    }
    match backend.simulate_permissions(&principal, &checks).await {
        Ok(verdicts) => report(&principal, &verdicts, summary),
        Err(error) => summary.skip(PART, &not_verified(&error)),
    }
}

/// The roles the starts of `service` pass to SSM: its `AutomationAssumeRole`
/// parameter (literal, or by `{service}` and `{env}` for each
/// environment), else the document's default for it. `Err` says why it
/// cannot be known before a release.
fn pass_roles(
    service: &Service,
    document: Option<&DocumentDescription>,
) -> Result<Vec<String>, String> {
    let values: Vec<String> = match service.parameters().get(ASSUME_ROLE) {
        Some(template) => {
            let known = [Placeholder::Service, Placeholder::Env];
            if let Some(other) = template.placeholders().find(|p| !known.contains(p)) {
                return Err(format!(
                    "its {ASSUME_ROLE} ({template}) depends on {other}, known only at a release"
                ));
            }
            let roles: BTreeSet<String> = service
                .environments()
                .iter()
                .map(String::as_str)
                .chain([service.default_environment()])
                .map(|env| {
                    template.render(&TemplateContext {
                        service: service.name(),
                        version: "",
                        env,
                        requester: "",
                        deployment_id: "",
                        ticket: None,
                    })
                })
                .collect();
            roles.into_iter().collect()
        }
        None => document
            .and_then(|d| d.parameters.iter().find(|p| p.name == ASSUME_ROLE))
            .and_then(|p| p.default_value.clone())
            .into_iter()
            .collect(),
    };
    let values: Vec<String> = values
        .into_iter()
        .filter(|v| !v.trim().is_empty())
        .collect();
    if let Some(other) = values
        .iter()
        .find(|v| !(v.starts_with("arn:") && v.contains(":role/")))
    {
        return Err(format!("its {ASSUME_ROLE} {other} is no IAM role ARN"));
    }
    Ok(values)
}

/// The `skip` sentence for a simulation that could not be made.
fn not_verified(error: &PermissionsError) -> String {
    let hint = match error {
        PermissionsError::SimulationDenied { principal, .. } => format!(
            "grant iam:SimulatePrincipalPolicy on the bot's own role ({principal}) to let check \
             verify them (statement CheckOwnPermissions of {POLICY_FILE})"
        ),
        PermissionsError::UnknownPrincipal { .. } => "run check with the bot's own IAM role or \
             user, and grant iam:SimulatePrincipalPolicy on it to let check verify them"
            .to_owned(),
        PermissionsError::NoSuchPrincipal { .. } => "verify them in the IAM console's policy \
             simulator, or run check as an IAM role without a path"
            .to_owned(),
        PermissionsError::Backend(error) if error.is_retryable() => {
            "run check again shortly".to_owned()
        }
        _ => "grant iam:SimulatePrincipalPolicy on the bot's own role to let check verify them"
            .to_owned(),
    };
    format!("not verified: {}; {hint}", sentence(error))
}

fn report(principal: &BotPrincipal, verdicts: &[PermissionVerdict], summary: &mut CheckSummary) {
    let who = if principal.caller == principal.policy_source {
        principal.policy_source.clone()
    } else {
        format!(
            "{} (the role of {})",
            principal.policy_source, principal.caller
        )
    };
    let mut said = BTreeSet::new();
    let mut failed = false;
    for verdict in verdicts.iter().filter(|v| !v.allowed()) {
        let line = denial(&principal.policy_source, verdict);
        if !said.insert(line.clone()) {
            continue;
        }
        if verdict.required {
            failed = true;
            summary.fail(&line);
        } else {
            summary.warn(&line);
        }
    }
    if !failed {
        let actions: BTreeSet<&str> = verdicts.iter().map(|v| v.action.as_str()).collect();
        summary.ok(&format!(
            "permissions: the {} actions the bot uses are allowed for {who} ({} action and \
             resource pairs simulated with iam:SimulatePrincipalPolicy)",
            actions.len(),
            verdicts.len()
        ));
    }
}

/// One denied action on one resource, and what to change.
fn denial(principal: &str, verdict: &PermissionVerdict) -> String {
    let PermissionVerdict {
        action, resource, ..
    } = verdict;
    let decision = match verdict.denied_by {
        Some(by) => format!("{}, by {by}", verdict.decision.as_str()),
        None => verdict.decision.as_str().to_owned(),
    };
    let mut line = format!(
        "permissions: {action} on {resource} is denied to {principal} ({decision}): the bot \
         cannot {}",
        verdict.purpose
    );
    if !verdict.missing_context.is_empty() {
        line.push_str(&format!(
            " (the policies' conditions read {}, which the simulation did not carry)",
            verdict.missing_context.join(", ")
        ));
    }
    let grant = match statement(action) {
        Some(sid) => format!("as statement {sid} of {POLICY_FILE} does"),
        None => format!("as {POLICY_FILE} does"),
    };
    if verdict.decision == PolicyDecision::ExplicitDeny {
        line.push_str(&format!(
            "; remove or narrow the Deny that matches it, then allow {action} on {resource} {grant}"
        ));
    } else {
        line.push_str(&format!("; allow {action} on {resource} {grant}"));
    }
    if !verdict.required {
        line.push_str(" (AWS's guides grant it with tagged starts; starts may work without it)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatdeploy_core::Catalog;
    use chatdeploy_core::backend::DocumentParameter;

    fn catalog(parameters: &str) -> Catalog {
        Catalog::from_toml_str(
            &format!(
                r#"
                [chat]
                deploy_channels = ["C0DEPLOY"]
                [services.app]
                version_pattern = '^r-\d+$'
                document = "Deploy-App"
                approval = "none"
                environments = ["production", "staging"]
                parameters = {{ {parameters} }}
                "#
            ),
            "t.toml",
        )
        .unwrap()
    }

    fn document(default: Option<&str>) -> DocumentDescription {
        DocumentDescription {
            name: "Deploy-App".into(),
            version: None,
            parameters: vec![DocumentParameter {
                name: ASSUME_ROLE.into(),
                kind: "String".into(),
                default_value: default.map(str::to_owned),
                description: None,
            }],
        }
    }

    #[test]
    fn passed_roles_come_from_the_service_or_the_document() {
        let role = "arn:aws:iam::1:role/auto";
        let plain = catalog("V = \"{version}\"");
        let service = plain.service("app").unwrap();
        assert_eq!(
            pass_roles(service, Some(&document(Some(role)))),
            Ok(vec![role.to_owned()])
        );
        assert_eq!(pass_roles(service, Some(&document(None))), Ok(vec![]));
        assert_eq!(pass_roles(service, None), Ok(vec![]));

        let per_env = catalog("AutomationAssumeRole = \"arn:aws:iam::1:role/{env}-{service}\"");
        let service = per_env.service("app").unwrap();
        assert_eq!(
            pass_roles(service, Some(&document(Some(role)))),
            Ok(vec![
                "arn:aws:iam::1:role/production-app".to_owned(),
                "arn:aws:iam::1:role/staging-app".to_owned()
            ])
        );

        let by_version = catalog("AutomationAssumeRole = \"arn:aws:iam::1:role/{version}\"");
        let why = pass_roles(by_version.service("app").unwrap(), None).unwrap_err();
        assert!(why.contains("{version}"), "{why}");
        let not_arn = catalog("AutomationAssumeRole = \"auto\"");
        let why = pass_roles(not_arn.service("app").unwrap(), None).unwrap_err();
        assert!(why.contains("no IAM role ARN"), "{why}");
    }

    fn verdict(decision: PolicyDecision, required: bool) -> PermissionVerdict {
        let mut verdict = PermissionVerdict::new(
            "ssm:StartAutomationExecution",
            "arn:aws:ssm:us-east-1:1:automation-definition/D:$DEFAULT",
            decision,
        );
        verdict.purpose = "start releases of app".into();
        verdict.required = required;
        verdict
    }

    #[test]
    fn denials_say_what_to_grant_or_remove() {
        let role = "arn:aws:iam::1:role/bot";
        let implicit = denial(role, &verdict(PolicyDecision::ImplicitDeny, true));
        assert_eq!(
            implicit,
            "permissions: ssm:StartAutomationExecution on \
             arn:aws:ssm:us-east-1:1:automation-definition/D:$DEFAULT is denied to \
             arn:aws:iam::1:role/bot (implicitDeny): the bot cannot start releases of app; allow \
             ssm:StartAutomationExecution on \
             arn:aws:ssm:us-east-1:1:automation-definition/D:$DEFAULT as statement \
             StartOnlyTheConfiguredDocumentsTaggedAsChatdeploys of deploy/iam-policy.json does"
        );
        let mut explicit = verdict(PolicyDecision::ExplicitDeny, false);
        explicit.denied_by = Some("a service control policy");
        explicit.missing_context = vec!["aws:RequestTag/team".into()];
        let text = denial(role, &explicit);
        assert!(
            text.contains("(explicitDeny, by a service control policy)"),
            "{text}"
        );
        assert!(
            text.contains("conditions read aws:RequestTag/team"),
            "{text}"
        );
        assert!(text.contains("; remove or narrow the Deny"), "{text}");
        assert!(text.ends_with("starts may work without it)"), "{text}");
    }

    #[test]
    fn every_action_the_backend_simulates_has_a_statement() {
        for action in [
            "ssm:StartAutomationExecution",
            "ssm:AddTagsToResource",
            "ssm:DescribeDocument",
            "ssm:GetDocument",
            "ssm:GetAutomationExecution",
            "ssm:DescribeAutomationStepExecutions",
            "ssm:SendAutomationSignal",
            "ssm:StopAutomationExecution",
            "iam:PassRole",
        ] {
            let sid = statement(action).unwrap();
            let policy = include_str!("../../../deploy/iam-policy.json");
            assert!(policy.contains(&format!("\"Sid\": \"{sid}\"")), "{sid}");
        }
    }
}
