#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The bot's permissions: `SimulatePrincipalPolicy` in the emulator
//! through the real IAM client, `SsmBackend::simulate_permissions` on it,
//! and the checks it simulates against the shipped policy
//! (`deploy/iam-policy.json`), which must allow them all.

mod support;

use std::collections::BTreeMap;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::PolicyEvaluationDecisionType as Decision;
use aws_sdk_iam::types::{ContextEntry as IamContextEntry, ContextKeyTypeEnum};
use chatdeploy_aws::{
    BotPrincipal, PermissionCheck, PermissionsError, PolicyDecision, ReleasePermissions,
    SsmEmulator,
};
use chatdeploy_core::backend::StartRequest;
use support::policy::{evaluate, glob};

const ROLE: &str = "arn:aws:iam::123456789012:role/chatdeploy";
const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/chatdeploy/i-0abc";
const AUTOMATION_ROLE: &str = "arn:aws:iam::123456789012:role/chatdeploy-automation";

fn executions() -> &'static str {
    "arn:aws:ssm:us-east-1:123456789012:automation-execution/*"
}

fn shipped_policy() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/iam-policy.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn release(service: &str, document: &str, version: Option<&str>) -> StartRequest {
    let mut request = support::request("r-1.2.3");
    request.service = service.to_owned();
    request.document = document.to_owned();
    request.document_version = version.map(str::to_owned);
    request.parameters = BTreeMap::new();
    request
}

fn checks(request: &StartRequest, approves: bool) -> Vec<PermissionCheck> {
    let principal = BotPrincipal::from_caller(SESSION).unwrap();
    chatdeploy_aws::permissions::release_checks(
        &principal,
        "us-east-1",
        &ReleasePermissions {
            request,
            approves,
            pass_roles: vec![AUTOMATION_ROLE.to_owned()],
        },
    )
}

#[test]
fn globs_match_as_iam_does() {
    let doc = "arn:aws:ssm:*:1:document/Deploy-App";
    assert!(glob(
        doc,
        "arn:aws:ssm:us-east-1:1:document/Deploy-App",
        false
    ));
    assert!(!glob(
        doc,
        "arn:aws:ssm:us-east-1:1:document/Deploy-Apps",
        false
    ));
    assert!(glob("a*b?d", "axxbcd", false));
    assert!(glob("SSM:Get*", "ssm:GetDocument", true));
    assert!(!glob("ssm:Get*", "ssm:getDocument", false));
}

/// Every call the backend makes for the two sample services, with the
/// context those calls carry, is allowed by the shipped policy; without
/// the tags, or for a document it does not name, it is not.
#[test]
fn the_shipped_policy_allows_every_simulated_call() {
    let policy = shipped_policy();
    for (service, document, version, approves) in [
        ("app", "Deploy-App", None, true),
        ("ui", "Deploy-UI", Some("3"), false),
    ] {
        let request = release(service, document, version);
        let checks = checks(&request, approves);
        let actions: Vec<&str> = checks.iter().map(|c| c.action.as_str()).collect();
        let mut expected = vec![
            "ssm:StartAutomationExecution",
            "ssm:AddTagsToResource",
            "ssm:DescribeDocument",
            "ssm:GetDocument",
            "ssm:GetAutomationExecution",
            "ssm:DescribeAutomationStepExecutions",
            "ssm:SendAutomationSignal",
            "ssm:StopAutomationExecution",
            "iam:PassRole",
        ];
        if !approves {
            expected.retain(|a| !["ssm:GetDocument", "ssm:SendAutomationSignal"].contains(a));
        }
        assert_eq!(actions, expected, "{service}");
        for check in &checks {
            for resource in &check.resources {
                assert_eq!(
                    evaluate(&policy, &check.action, resource, &check.context),
                    PolicyDecision::Allowed,
                    "{} on {resource} with {:?}",
                    check.action,
                    check.context
                );
                if !check.context.is_empty() {
                    assert_ne!(
                        evaluate(&policy, &check.action, resource, &[]),
                        PolicyDecision::Allowed,
                        "{} on {resource} is allowed without its context: the check is vacuous",
                        check.action
                    );
                }
            }
        }
        let start = &checks[0];
        let version = version.unwrap_or("$DEFAULT");
        assert_eq!(
            start.resources,
            [
                format!(
                    "arn:aws:ssm:us-east-1:123456789012:automation-definition/{document}:{version}"
                ),
                "arn:aws:ssm:us-east-1:123456789012:automation-execution/*".to_owned(),
            ]
        );
        assert!(!checks[1].required, "AddTagsToResource only warns");
    }
    let other = checks(&release("other", "Deploy-Other", None), false);
    let denied: Vec<&str> = other
        .iter()
        .filter(|c| {
            c.resources
                .iter()
                .any(|r| evaluate(&policy, &c.action, r, &c.context) != PolicyDecision::Allowed)
        })
        .map(|c| c.action.as_str())
        .collect();
    assert_eq!(
        denied,
        ["ssm:StartAutomationExecution", "ssm:DescribeDocument"]
    );
}

/// The emulator's `SimulatePrincipalPolicy`, through the real IAM client:
/// one result per action with the decision per resource, context entries
/// taken, `MaxItems` pages followed by the SDK's paginator, a denied action
/// and a refused simulation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_principal_policy_through_the_sdk() {
    let emulator = SsmEmulator::builder()
        .deny_action("ssm:StopAutomationExecution")
        .start()
        .await
        .unwrap();
    let iam = emulator.iam_client_as("test");
    let resources = [
        "arn:aws:ssm:us-east-1:123456789012:automation-execution/*",
        "arn:aws:ssm:us-east-1:123456789012:document/Deploy-App",
    ];
    let answer = iam
        .simulate_principal_policy()
        .policy_source_arn(ROLE)
        .action_names("ssm:GetAutomationExecution")
        .action_names("ssm:StopAutomationExecution")
        .set_resource_arns(Some(resources.map(str::to_owned).to_vec()))
        .context_entries(
            IamContextEntry::builder()
                .context_key_name("aws:TagKeys")
                .context_key_values("chatdeploy:service")
                .context_key_values("chatdeploy:version")
                .context_key_type(ContextKeyTypeEnum::StringList)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(!answer.is_truncated());
    let results = answer.evaluation_results();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].eval_action_name(), "ssm:GetAutomationExecution");
    assert_eq!(results[0].eval_decision(), &Decision::Allowed);
    assert_eq!(results[0].matched_statements().len(), 1);
    assert_eq!(results[1].eval_decision(), &Decision::ImplicitDeny);
    assert!(results[1].matched_statements().is_empty());
    let specific = results[1].resource_specific_results();
    assert_eq!(specific.len(), 2);
    assert_eq!(specific[1].eval_resource_name(), resources[1]);
    assert_eq!(
        specific[1].eval_resource_decision(),
        &Decision::ImplicitDeny
    );

    let calls = emulator.calls();
    let form = &calls.last().unwrap().body;
    assert_eq!(form["Action"], "SimulatePrincipalPolicy");
    assert_eq!(form["ContextEntries.member.1.ContextKeyType"], "stringList");
    assert_eq!(
        form["ContextEntries.member.1.ContextKeyValues.member.2"],
        "chatdeploy:version"
    );

    // Pages of two, followed by the paginator.
    let names: Vec<String> = (1..=5).map(|i| format!("ssm:Action{i}")).collect();
    let pages: Vec<_> = iam
        .simulate_principal_policy()
        .policy_source_arn(ROLE)
        .set_action_names(Some(names.clone()))
        .max_items(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let seen: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.evaluation_results())
        .map(|r| r.eval_action_name())
        .collect();
    assert_eq!(seen, names);
    assert_eq!(
        pages[0].evaluation_results()[0].eval_resource_name(),
        Some("*")
    );

    // A session is no policy source.
    let error = iam
        .simulate_principal_policy()
        .policy_source_arn(SESSION)
        .action_names("ssm:GetDocument")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InvalidInput"));

    emulator.deny("SimulatePrincipalPolicy");
    let error = iam
        .simulate_principal_policy()
        .policy_source_arn(ROLE)
        .action_names("ssm:GetDocument")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));
    assert!(
        error.message().unwrap().contains(
            "not authorized to perform: iam:SimulatePrincipalPolicy on resource: role chatdeploy"
        ),
        "{error:?}"
    );
}

/// The backend simulates its calls for the role behind its session; a
/// denied action comes back per resource, a refused simulation and a
/// principal that is no IAM user or role are errors of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_simulates_its_own_calls() {
    let emulator = SsmEmulator::builder()
        .identity("SESSIONKEY", SESSION)
        .identity("ROOTKEY", "arn:aws:iam::123456789012:root")
        .start()
        .await
        .unwrap();
    let backend = emulator.backend_as("SESSIONKEY");
    let principal = backend.bot_principal().await.unwrap();
    assert_eq!(principal.policy_source, ROLE);
    let request = release("app", "Deploy-App", None);
    let checks = backend.release_permissions(
        &principal,
        &ReleasePermissions {
            request: &request,
            approves: true,
            pass_roles: vec![AUTOMATION_ROLE.to_owned()],
        },
    );
    let verdicts = backend
        .simulate_permissions(&principal, &checks)
        .await
        .unwrap();
    let pairs: usize = checks.iter().map(|c| c.resources.len()).sum();
    assert_eq!(verdicts.len(), pairs);
    assert!(verdicts.iter().all(|v| v.allowed()), "{verdicts:?}");
    // Checks sharing resources and context share a call.
    let simulations: Vec<_> = emulator
        .calls()
        .into_iter()
        .filter(|c| c.operation == "SimulatePrincipalPolicy")
        .collect();
    assert_eq!(simulations.len(), 5, "{simulations:?}");
    assert!(
        simulations
            .iter()
            .all(|c| c.body["PolicySourceArn"] == ROLE)
    );
    let start = &simulations[0].body;
    assert_eq!(
        start["ActionNames.member.1"],
        "ssm:StartAutomationExecution"
    );
    assert_eq!(start["ResourceArns.member.2"], executions());
    let watch = &simulations[3].body;
    let watched: Vec<&str> = (1..=4)
        .map(|i| watch[format!("ActionNames.member.{i}")].as_str().unwrap())
        .collect();
    assert_eq!(
        watched,
        [
            "ssm:GetAutomationExecution",
            "ssm:DescribeAutomationStepExecutions",
            "ssm:SendAutomationSignal",
            "ssm:StopAutomationExecution"
        ]
    );
    assert_eq!(
        watch["ContextEntries.member.1.ContextKeyName"],
        "aws:ResourceTag/chatdeploy:service"
    );
    assert_eq!(
        start["ContextEntries.member.1.ContextKeyName"],
        "aws:RequestTag/chatdeploy:service"
    );
    assert_eq!(
        start["ContextEntries.member.1.ContextKeyValues.member.1"],
        "app"
    );

    emulator.deny_action("ssm:SendAutomationSignal");
    let verdicts = backend
        .simulate_permissions(&principal, &checks)
        .await
        .unwrap();
    let denied: Vec<_> = verdicts.iter().filter(|v| !v.allowed()).collect();
    assert_eq!(denied.len(), 1, "{verdicts:?}");
    assert_eq!(denied[0].action, "ssm:SendAutomationSignal");
    assert_eq!(denied[0].resource, executions());
    assert_eq!(denied[0].decision, PolicyDecision::ImplicitDeny);
    assert_eq!(
        denied[0].purpose,
        "answer the approval step of releases of app"
    );

    emulator.deny("SimulatePrincipalPolicy");
    match backend.simulate_permissions(&principal, &checks).await {
        Err(PermissionsError::SimulationDenied { principal, message }) => {
            assert_eq!(principal, ROLE);
            assert!(message.contains("iam:SimulatePrincipalPolicy"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let root = emulator.backend_as("ROOTKEY");
    assert!(matches!(
        root.bot_principal().await,
        Err(PermissionsError::UnknownPrincipal { .. })
    ));
    let no_iam = chatdeploy_aws::SsmBackend::builder()
        .with_client(emulator.client())
        .with_sts_client(emulator.sts_client_as("test"))
        .build()
        .unwrap();
    assert!(matches!(
        no_iam.simulate_permissions(&principal, &checks).await,
        Err(PermissionsError::NoIamClient)
    ));
}
