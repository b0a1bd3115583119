#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The emulator's parameter checks, tags, listings, documents and rate
//! limits as SSM's model defines them, through the real `aws-sdk-ssm` client.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{
    AutomationExecutionFilter, AutomationExecutionFilterKey, DocumentFormat,
    ResourceTypeForTagging, StepExecutionFilter, StepExecutionFilterKey, Tag,
};
use chatdeploy_aws::SsmEmulator;
use support::fidelity::*;

const DEPLOY_APP: &str = include_str!("../../deploy/deploy-app.ssm.yml");

async fn emulator() -> SsmEmulator {
    SsmEmulator::builder()
        .step_delay(Duration::from_millis(20))
        .document("Deploy-App", DEPLOY_APP)
        .document("Quick", long_document(1))
        .document("Long", long_document(120))
        .start()
        .await
        .unwrap()
}

/// Start parameters: a name and its values.
type Params<'a> = Vec<(&'a str, &'a [&'a str])>;

async fn start_with(client: &Client, params: &[(&str, &[&str])]) -> Result<String, String> {
    let mut call = client
        .start_automation_execution()
        .document_name("Deploy-App");
    for (name, values) in params {
        call = call.parameters(*name, values.iter().map(|v| (*v).to_owned()).collect());
    }
    call.send()
        .await
        .map(|out| out.automation_execution_id().unwrap().to_owned())
        .map_err(|e| error_code(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_checked_against_the_document() {
    let emulator = emulator().await;
    let client = emulator.client();
    let base: [(&str, &[&str]); 3] = [
        ("RequestedBy", &["U0ALICE"]),
        ("DeploymentId", &["dep-1"]),
        ("ReleaseVersion", &["r-1.2.3"]),
    ];
    start_with(&client, &base).await.unwrap();
    let with = |name: &'static str, values: &'static [&'static str]| {
        let mut params = base.to_vec();
        params.retain(|(n, _)| *n != name);
        params.push((name, values));
        params
    };
    let cases: [(Params<'_>, &str); 5] = [
        (
            with("ReleaseVersion", &["1.2.3"]),
            r#"Parameter "ReleaseVersion" failed to satisfy constraint: allowedPattern ^r-\d+\.\d+\.\d+$"#,
        ),
        (
            with("Environment", &["dev"]),
            r#"Parameter "Environment" failed to satisfy constraint: allowedValues production, staging"#,
        ),
        (
            with("ReleaseVersion", &["r-1.2.3", "r-1.2.4"]),
            r#"Parameter "ReleaseVersion" failed to satisfy constraint: type String takes exactly one value, got 2"#,
        ),
        (
            with("Colour", &["blue"]),
            r#"Parameter "Colour" is not defined"#,
        ),
        (base[..2].to_vec(), "required: ReleaseVersion"),
    ];
    for (params, message) in cases {
        let err = start_with(&client, &params).await.unwrap_err();
        assert!(
            err.starts_with("InvalidAutomationExecutionParametersException: ")
                && err.contains(message),
            "{err}"
        );
    }
    assert_eq!(emulator.executions(), 1);
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_kept_limited_listed_and_filtered() {
    let emulator = emulator().await;
    let client = emulator.client();
    let six: Vec<Tag> = (0..6).map(|i| tag(&format!("k{i}"), "v")).collect();
    let err = client
        .start_automation_execution()
        .document_name("Quick")
        .set_tags(Some(six.clone()))
        .send()
        .await
        .unwrap_err();
    let err = error_code(&err);
    assert!(
        err.starts_with("ValidationException: ")
            && err.contains("Member must have length less than or equal to 5"),
        "{err}"
    );
    let id = client
        .start_automation_execution()
        .document_name("Quick")
        .set_tags(Some(six[..5].to_vec()))
        .send()
        .await
        .unwrap()
        .automation_execution_id()
        .unwrap()
        .to_owned();
    start(&client, "Quick").await;
    client
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Automation)
        .resource_id(&id)
        .tags(tag("chatdeploy:service", "app"))
        .send()
        .await
        .unwrap();
    let listed = client
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Automation)
        .resource_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tag_list().len(), 6);
    let filter = AutomationExecutionFilter::builder()
        .key(AutomationExecutionFilterKey::TagKey)
        .values("chatdeploy:service")
        .build()
        .unwrap();
    let found = client
        .describe_automation_executions()
        .filters(filter)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = found
        .automation_execution_metadata_list()
        .iter()
        .map(|e| e.automation_execution_id().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
}

fn filter(key: AutomationExecutionFilterKey, value: &str) -> AutomationExecutionFilter {
    AutomationExecutionFilter::builder()
        .key(key)
        .values(value)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_page_newest_first() {
    let emulator = emulator().await;
    let client = emulator.client();
    let mut started = Vec::new();
    for _ in 0..120 {
        started.push(start(&client, "Quick").await);
    }
    let long = start(&client, "Long").await;
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .describe_automation_executions()
            .filters(filter(
                AutomationExecutionFilterKey::DocumentNamePrefix,
                "Qu",
            ))
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages.push(out.automation_execution_metadata_list().len());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [50, 50, 20]);

    // The SDK's paginator, 7 a page: every one once, newest first.
    let listed: Vec<String> = client
        .describe_automation_executions()
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.automation_execution_id().unwrap().to_owned())
        .collect();
    let mut newest_first = started.clone();
    newest_first.push(long.clone());
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let refused = |key: &str, value: &str| {
        client
            .describe_automation_executions()
            .filters(filter(AutomationExecutionFilterKey::from(key), value))
            .send()
    };
    let err = refused("Colour", "blue").await.unwrap_err();
    assert!(error_code(&err).starts_with("InvalidFilterKey"), "{err:?}");
    let err = refused("StartTimeAfter", "last Tuesday").await.unwrap_err();
    assert!(
        error_code(&err).starts_with("InvalidFilterValue"),
        "{err:?}"
    );
    let err = refused("ExecutionStatus", "Done").await.unwrap_err();
    assert!(
        error_code(&err).starts_with("InvalidFilterValue"),
        "{err:?}"
    );
    let err = client
        .describe_automation_executions()
        .next_token("forged")
        .send()
        .await
        .unwrap_err();
    assert!(error_code(&err).starts_with("InvalidNextToken"), "{err:?}");
    for bad in [0, 51] {
        let err = client
            .describe_automation_executions()
            .max_results(bad)
            .send()
            .await
            .unwrap_err();
        assert!(
            error_code(&err).starts_with("ValidationException"),
            "{err:?}"
        );
    }

    let count = |f: AutomationExecutionFilter| {
        let client = client.clone();
        async move {
            client
                .describe_automation_executions()
                .filters(f)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await
                .len()
        }
    };
    use AutomationExecutionFilterKey as K;
    assert_eq!(count(filter(K::ExecutionId, &long)).await, 1);
    assert_eq!(count(filter(K::ExecutionStatus, "Success")).await, 121);
    assert_eq!(count(filter(K::AutomationType, "Local")).await, 121);
    assert_eq!(
        count(filter(K::StartTimeAfter, "2020-01-01T00:00:00Z")).await,
        121
    );
    assert_eq!(
        count(filter(K::StartTimeBefore, "2020-01-01T00:00:00Z")).await,
        0
    );
    assert_eq!(count(filter(K::ParentExecutionId, &long)).await, 0);
    assert_eq!(count(filter(K::CurrentAction, "aws:sleep")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_step_lists_are_truncated_and_paged() {
    let emulator = emulator().await;
    let client = emulator.client();
    let id = start(&client, "Long").await;
    let done = wait_status(&client, &id, "Success").await;
    assert_eq!(done.step_executions().len(), 100);
    assert!(done.step_executions_truncated());

    let names = |reverse: bool| {
        let client = client.clone();
        let id = id.clone();
        async move {
            client
                .describe_automation_step_executions()
                .automation_execution_id(id)
                .reverse_order(reverse)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.step_name().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let forward = names(false).await;
    assert_eq!(forward.len(), 120);
    assert_eq!(forward.iter().collect::<HashSet<_>>().len(), 120);
    assert_eq!(forward[0], "Step000");
    let mut backward = names(true).await;
    backward.reverse();
    assert_eq!(backward, forward);

    let page = client
        .describe_automation_step_executions()
        .automation_execution_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(page.step_executions().len(), 50);
    assert!(page.next_token().is_some());
    let one = client
        .describe_automation_step_executions()
        .automation_execution_id(&id)
        .filters(
            StepExecutionFilter::builder()
                .key(StepExecutionFilterKey::StepName)
                .values("Step110")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let steps = one.step_executions();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].step_status().unwrap().as_str(), "Success");
    assert!(one.next_token().is_none());

    // A short execution is not truncated.
    let quick = start(&client, "Quick").await;
    let quick = wait_status(&client, &quick, "Success").await;
    assert!(!quick.step_executions_truncated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_come_back_as_created_or_converted() {
    let emulator = emulator().await;
    let client = emulator.client();
    let yaml = client
        .get_document()
        .name("Deploy-App")
        .send()
        .await
        .unwrap();
    assert_eq!(yaml.content(), Some(DEPLOY_APP));
    assert_eq!(yaml.document_format(), Some(&DocumentFormat::Yaml));
    assert_eq!(yaml.document_version(), Some("1"));
    assert_eq!(yaml.status().unwrap().as_str(), "Active");
    assert_eq!(yaml.document_type().unwrap().as_str(), "Automation");
    assert!(yaml.created_date().is_some());
    let json = client
        .get_document()
        .name("Deploy-App")
        .document_format(DocumentFormat::Json)
        .send()
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(json.content().unwrap()).unwrap();
    assert_eq!(parsed["mainSteps"][1]["name"], "ApproveRelease");
    assert_eq!(parsed["mainSteps"][1]["timeoutSeconds"], 7200);

    let err = client.get_document().name("Nope").send().await.unwrap_err();
    assert!(error_code(&err).starts_with("InvalidDocument:"), "{err:?}");
    let err = client
        .get_document()
        .name("Deploy-App")
        .document_version("2")
        .send()
        .await
        .unwrap_err();
    assert!(
        error_code(&err).starts_with("InvalidDocumentVersion"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_throttle_one_operation() {
    let emulator = emulator().await;
    let client = emulator.client();
    let id = start(&client, "Quick").await;
    // One call every 10 s after a burst of two: the third is over the rate
    // however slow the machine.
    emulator.rate_limit("GetAutomationExecution", 0.1, 2);
    get(&client, &id).await;
    get(&client, &id).await;
    // The SDK's retries (within ~100 ms) are throttled too.
    let err = client
        .get_automation_execution()
        .automation_execution_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "ThrottlingException: Rate exceeded");
    // Other operations are not limited.
    client
        .describe_automation_executions()
        .send()
        .await
        .unwrap();
    emulator.clear_rate_limit("GetAutomationExecution");
    get(&client, &id).await;
}
