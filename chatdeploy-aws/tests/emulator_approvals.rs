#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The emulator's approvals, stops and identities as SSM and STS report
//! them, through the real `aws-sdk-ssm` and `aws-sdk-sts` clients.

mod support;

use std::time::Duration;

use aws_sdk_ssm::types::SignalType;
use chatdeploy_aws::SsmEmulator;
use serde_json::Value;
use support::fidelity::*;

async fn emulator_with(document: &str) -> SsmEmulator {
    SsmEmulator::builder()
        .step_delay(Duration::from_millis(20))
        .cancel_delay(Duration::from_secs(2))
        .identity("BOBKEY", BOB)
        .document("Release", document)
        .start()
        .await
        .unwrap()
}

/// The decisions of a step's `ApproverDecisions` output, decoded.
fn decisions(step: &aws_sdk_ssm::types::StepExecution) -> Vec<Value> {
    step.outputs().unwrap()["ApproverDecisions"]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn approval_status(step: &aws_sdk_ssm::types::StepExecution) -> Vec<String> {
    step.outputs().unwrap()["ApprovalStatus"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_second_principal_approves_and_the_unlisted_bot_is_refused() {
    let managers = "arn:aws:iam::123456789012:role/release-managers";
    let emulator = emulator_with(&approve_document(&[BOB, managers], 2, "")).await;
    let (bot, bob) = (emulator.client(), emulator.client_as("BOBKEY"));
    let id = start(&bot, "Release").await;
    let waiting = wait_status(&bot, &id, "Waiting").await;
    // No decision yet: no outputs.
    assert!(step(&waiting, "Approve").outputs().is_none());

    let refused = signal(&bot, &id, SignalType::Approve, None)
        .await
        .unwrap_err();
    assert!(
        refused.starts_with("InvalidAutomationSignalException: "),
        "{refused}"
    );
    assert!(
        refused.contains(BOT) && refused.contains("Approve"),
        "{refused}"
    );

    signal(&bob, &id, SignalType::Approve, Some("lgtm"))
        .await
        .unwrap();
    let one = get(&bot, &id).await;
    assert_eq!(status(&one), "Waiting");
    assert_eq!(approval_status(step(&one, "Approve")), ["Waiting"]);
    assert_eq!(decisions(step(&one, "Approve")).len(), 1);

    // A session of a listed role, mapped while the emulator runs.
    let carol = "arn:aws:sts::123456789012:assumed-role/release-managers/carol";
    emulator.set_identity("CAROLKEY", carol);
    signal(
        &emulator.client_as("CAROLKEY"),
        &id,
        SignalType::Approve,
        None,
    )
    .await
    .unwrap();
    let done = wait_status(&bot, &id, "Success").await;
    let approve = step(&done, "Approve");
    assert_eq!(approval_status(approve), ["Approved"]);
    let decisions = decisions(approve);
    assert_eq!(decisions[0]["Approver"], BOB);
    assert_eq!(decisions[0]["Decision"], "Approve");
    assert_eq!(decisions[0]["Comment"], "lgtm");
    assert_eq!(decisions[1]["Approver"], carol);
    assert!(decisions[1].get("Comment").is_none());
    let callers: Vec<_> = emulator
        .calls()
        .into_iter()
        .filter(|c| c.operation == "SendAutomationSignal")
        .map(|c| c.caller)
        .collect();
    assert_eq!(callers, [BOT, BOB, carol]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_with_a_comment_is_in_the_outputs() {
    let emulator = emulator_with(&approve_document(&[BOB], 1, "")).await;
    let (bot, bob) = (emulator.client(), emulator.client_as("BOBKEY"));
    let id = start(&bot, "Release").await;
    wait_status(&bot, &id, "Waiting").await;
    signal(&bob, &id, SignalType::Reject, Some("not on a Friday"))
        .await
        .unwrap();
    let done = wait_status(&bot, &id, "Failed").await;
    let approve = step(&done, "Approve");
    assert_eq!(approve.step_status().unwrap().as_str(), "Failed");
    assert_eq!(approval_status(approve), ["Rejected"]);
    let decision = &decisions(approve)[0];
    assert_eq!(decision["Approver"], BOB);
    assert_eq!(decision["Decision"], "Reject");
    assert_eq!(decision["Comment"], "not on a Friday");
    // RFC 3339 with microseconds, in UTC: 2024-05-01T12:00:00.123456Z.
    let time = decision["ApprovalDecisionTime"].as_str().unwrap();
    assert_eq!(time.len(), 27, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok());
    assert_eq!(
        step(&done, "Rollout").step_status().unwrap().as_str(),
        "Pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_without_enough_decisions_times_out() {
    let emulator = emulator_with(&approve_document(&[BOB], 2, "    timeoutSeconds: 3\n")).await;
    let (bot, bob) = (emulator.client(), emulator.client_as("BOBKEY"));
    let id = start(&bot, "Release").await;
    wait_status(&bot, &id, "Waiting").await;
    signal(&bob, &id, SignalType::Approve, None).await.unwrap();
    let done = wait_status(&bot, &id, "TimedOut").await;
    let approve = step(&done, "Approve");
    assert_eq!(approve.step_status().unwrap().as_str(), "TimedOut");
    assert_eq!(approve.timeout_seconds(), Some(3));
    assert!(
        approve
            .failure_message()
            .unwrap()
            .contains("timed out while step is verifying approvals"),
        "{approve:?}"
    );
    assert!(done.failure_message().unwrap().contains("timed out"));
    let (start, end) = (
        done.execution_start_time().unwrap(),
        done.execution_end_time().unwrap(),
    );
    assert!(end.as_secs_f64() - start.as_secs_f64() >= 3.0);
    assert_eq!(done.progress_counters().unwrap().timed_out_steps(), 1);
    let late = signal(&bob, &id, SignalType::Approve, None)
        .await
        .unwrap_err();
    assert!(
        late.starts_with("InvalidAutomationSignalException"),
        "{late}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_cancelling_then_cancelled() {
    let emulator = emulator_with(&approve_document(&[BOB], 1, "")).await;
    let (bot, bob) = (emulator.client(), emulator.client_as("BOBKEY"));
    let id = start(&bot, "Release").await;
    wait_status(&bot, &id, "Waiting").await;
    bot.stop_automation_execution()
        .automation_execution_id(&id)
        .send()
        .await
        .unwrap();
    let cancelling = get(&bot, &id).await;
    assert_eq!(status(&cancelling), "Cancelling");
    assert!(cancelling.execution_end_time().is_none());
    assert_eq!(
        step(&cancelling, "Approve").step_status().unwrap().as_str(),
        "Waiting"
    );
    let again = bot
        .stop_automation_execution()
        .automation_execution_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        error_code(&again).starts_with("InvalidAutomationStatusUpdateException"),
        "{}",
        error_code(&again)
    );
    let late = signal(&bob, &id, SignalType::Approve, None)
        .await
        .unwrap_err();
    assert!(
        late.starts_with("InvalidAutomationSignalException"),
        "{late}"
    );

    let done = wait_status(&bot, &id, "Cancelled").await;
    assert!(done.execution_end_time().is_some());
    let approve = step(&done, "Approve");
    assert_eq!(approve.step_status().unwrap().as_str(), "Cancelled");
    assert!(approve.execution_end_time().is_some());
    assert!(done.current_step_name().is_none());
    let listed = bot.describe_automation_executions().send().await.unwrap();
    let metadata = &listed.automation_execution_metadata_list()[0];
    assert_eq!(
        metadata.automation_execution_status().unwrap().as_str(),
        "Cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_identity_is_the_arn_the_access_key_is_mapped_to() {
    let emulator = emulator_with(&approve_document(&[BOB], 1, "")).await;
    let bob = emulator
        .sts_client_as("BOBKEY")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(bob.arn(), Some(BOB));
    assert_eq!(bob.account(), Some("123456789012"));
    assert!(bob.user_id().unwrap().starts_with("AIDA"), "{bob:?}");

    let bot = emulator
        .sts_client_as("test")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(bot.arn(), Some(BOT));

    let session = "arn:aws:sts::444455556666:assumed-role/chatdeploy/i-0abc";
    emulator.set_identity("SESSIONKEY", session);
    let me = emulator
        .sts_client_as("SESSIONKEY")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some(session));
    assert_eq!(me.account(), Some("444455556666"));
    assert!(me.user_id().unwrap().ends_with(":i-0abc"), "{me:?}");

    let calls = emulator.calls();
    let sts: Vec<_> = calls
        .iter()
        .filter(|c| c.operation == "GetCallerIdentity")
        .map(|c| c.caller.as_str())
        .collect();
    assert_eq!(sts, [BOB, BOT, session]);
    assert_eq!(calls[0].body["Version"], "2011-06-15");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_errors_are_awsquery_errors() {
    let emulator = emulator_with(&approve_document(&[BOB], 1, "")).await;
    emulator.deny("GetCallerIdentity");
    let err = emulator
        .sts_client_as("BOBKEY")
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    use aws_sdk_sts::error::ProvideErrorMetadata;
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(err.message().unwrap().contains(BOB));
}
