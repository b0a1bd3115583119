//! Helpers for the wire-fidelity tests: documents built for one behaviour,
//! and SSM calls through the real SDK client.

use std::time::Duration;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{AutomationExecution, SignalType, StepExecution};

/// The bot's identity (the emulator's default caller).
pub const BOT: &str = "arn:aws:iam::123456789012:role/chatdeploy";
/// A second principal, an IAM user, signing with `BOBKEY`.
pub const BOB: &str = "arn:aws:iam::123456789012:user/bob";

/// A document: a quick sleep, then an approval by `approvers`, then a
/// command; `extra` goes into the approve step (e.g. `timeoutSeconds: 1`).
pub fn approve_document(approvers: &[&str], min_approvals: u32, extra: &str) -> String {
    let approvers: String = approvers
        .iter()
        .map(|a| format!("        - '{a}'\n"))
        .collect();
    format!(
        "schemaVersion: '0.3'\n\
         mainSteps:\n\
         \x20 - name: Prepare\n\
         \x20   action: aws:sleep\n\
         \x20   inputs:\n\
         \x20     Duration: PT0S\n\
         \x20 - name: Approve\n\
         \x20   action: aws:approve\n\
         {extra}\
         \x20   inputs:\n\
         \x20     Message: Ship it?\n\
         \x20     MinRequiredApprovals: {min_approvals}\n\
         \x20     Approvers:\n\
         {approvers}\
         \x20 - name: Rollout\n\
         \x20   action: aws:runCommand\n\
         \x20   inputs:\n\
         \x20     DocumentName: AWS-RunShellScript\n"
    )
}

/// A document of `n` instant steps.
pub fn long_document(n: usize) -> String {
    let steps: String = (0..n)
        .map(|i| {
            format!(
                "  - name: Step{i:03}\n    action: aws:sleep\n    inputs:\n      Duration: PT0S\n"
            )
        })
        .collect();
    format!("schemaVersion: '0.3'\nmainSteps:\n{steps}")
}

/// Starts `document` with no parameters.
pub async fn start(client: &Client, document: &str) -> String {
    client
        .start_automation_execution()
        .document_name(document)
        .send()
        .await
        .unwrap()
        .automation_execution_id()
        .unwrap()
        .to_owned()
}

/// GetAutomationExecution.
pub async fn get(client: &Client, id: &str) -> AutomationExecution {
    client
        .get_automation_execution()
        .automation_execution_id(id)
        .send()
        .await
        .unwrap()
        .automation_execution()
        .unwrap()
        .clone()
}

/// The execution's status as SSM spells it.
pub fn status(execution: &AutomationExecution) -> &str {
    execution.automation_execution_status().unwrap().as_str()
}

/// The named step of an execution.
pub fn step<'a>(execution: &'a AutomationExecution, name: &str) -> &'a StepExecution {
    execution
        .step_executions()
        .iter()
        .find(|s| s.step_name() == Some(name))
        .unwrap()
}

/// Polls until the execution's status is `want` (or panics after 10 s).
pub async fn wait_status(client: &Client, id: &str, want: &str) -> AutomationExecution {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let execution = get(client, id).await;
        if status(&execution) == want {
            return execution;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {want}: {execution:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SendAutomationSignal with an optional comment.
pub async fn signal(
    client: &Client,
    id: &str,
    kind: SignalType,
    comment: Option<&str>,
) -> Result<(), String> {
    let mut call = client
        .send_automation_signal()
        .automation_execution_id(id)
        .signal_type(kind);
    if let Some(comment) = comment {
        call = call.payload("Comment", vec![comment.to_owned()]);
    }
    call.send().await.map(|_| ()).map_err(|e| error_code(&e))
}

/// The error code (`__type`) and message of a failed call, as `Code: message`.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    format!(
        "{}: {}",
        err.code().unwrap_or("<no code>"),
        err.message().unwrap_or_default()
    )
}
