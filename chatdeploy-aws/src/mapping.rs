//! SSM's types mapped to core's: statuses, steps, approval waits and the
//! decisions recorded on approval steps.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ssm::types::{AutomationExecution, AutomationExecutionStatus as Ssm, StepExecution};
use chatdeploy_core::backend::{
    ApprovalDecisionRecord, ApprovalWait, ExecutionSnapshot, ExecutionStatus, Signal, StepSnapshot,
    StepStatus, WaitOutcome,
};

use crate::arn::approver_matches;
use chrono::{DateTime, Utc};

/// The action of SSM's approval step.
pub(crate) const APPROVE_ACTION: &str = "aws:approve";

/// An execution's status in core terms.
///
/// Change Manager statuses (approval of a change request, change calendar
/// overrides, scheduling) happen before the runbook runs, outside any
/// `aws:approve` step the engine could answer: they map to `Pending`, and
/// their rejections to `Failed`, so the engine neither posts an approval
/// request nor declares success it cannot see.
pub(crate) fn execution_status(status: &Ssm) -> ExecutionStatus {
    match status {
        Ssm::Pending => ExecutionStatus::Pending,
        Ssm::Inprogress => ExecutionStatus::Running,
        // Paused on a step that waits: an aws:approve, aws:pause or an
        // interactive step; `waiting_for_approval` tells which.
        Ssm::Waiting => ExecutionStatus::Waiting,
        Ssm::Success => ExecutionStatus::Succeeded,
        Ssm::Timedout => ExecutionStatus::TimedOut,
        Ssm::Cancelling => ExecutionStatus::Cancelling,
        Ssm::Cancelled => ExecutionStatus::Cancelled,
        Ssm::Failed => ExecutionStatus::Failed,
        // Change request waiting for its approvers, approved but not yet
        // running, or scheduled for later: not running yet.
        Ssm::PendingApproval | Ssm::Approved | Ssm::Scheduled => ExecutionStatus::Pending,
        // Change calendar closed: waits for an override before running.
        Ssm::PendingChangeCalendarOverride | Ssm::ChangeCalendarOverrideApproved => {
            ExecutionStatus::Pending
        }
        // A rejected change request or override never runs: a failure.
        Ssm::Rejected | Ssm::ChangeCalendarOverrideRejected => ExecutionStatus::Failed,
        // The change request's runbook is running.
        Ssm::RunbookInprogress => ExecutionStatus::Running,
        Ssm::CompletedWithSuccess => ExecutionStatus::Succeeded,
        Ssm::CompletedWithFailure => ExecutionStatus::Failed,
        // Neither success nor failure is documented for an execution that
        // "exited": keep watching rather than declare an outcome.
        Ssm::Exited => ExecutionStatus::Unknown("Exited".to_owned()),
        // A status newer than this SDK: keep watching (core treats Unknown
        // as still running).
        other => ExecutionStatus::Unknown(other.as_str().to_owned()),
    }
}

/// A step's status in core terms (steps share SSM's execution status enum).
pub(crate) fn step_status(status: &Ssm) -> StepStatus {
    match status {
        Ssm::Pending
        | Ssm::PendingApproval
        | Ssm::Approved
        | Ssm::Scheduled
        | Ssm::PendingChangeCalendarOverride
        | Ssm::ChangeCalendarOverrideApproved => StepStatus::Pending,
        // Cancelling has not stopped yet: still running.
        Ssm::Inprogress | Ssm::RunbookInprogress | Ssm::Cancelling => StepStatus::Running,
        Ssm::Waiting => StepStatus::Waiting,
        Ssm::Success | Ssm::CompletedWithSuccess => StepStatus::Succeeded,
        Ssm::Timedout => StepStatus::TimedOut,
        Ssm::Cancelled => StepStatus::Cancelled,
        Ssm::Failed
        | Ssm::Rejected
        | Ssm::ChangeCalendarOverrideRejected
        | Ssm::CompletedWithFailure => StepStatus::Failed,
        // A step that exited the flow (e.g. `isEnd`/`onFailure: step:…`)
        // neither failed nor ran to success as far as we can tell.
        Ssm::Exited => StepStatus::Unknown("Exited".to_owned()),
        other => StepStatus::Unknown(other.as_str().to_owned()),
    }
}

fn time(value: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    value.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// Step inputs are JSON-encoded strings (`"\"Please approve\""`, `"1"`);
/// a plain string is taken as is.
fn input(step: &StepExecution, key: &str) -> Option<String> {
    let raw = step.inputs()?.get(key)?;
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(s)) => Some(s),
        Ok(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => Some(raw.clone()),
    }
}

/// The decisions an `aws:approve` step records in its `ApproverDecisions`
/// output: each value is a JSON object (or an array of them) with
/// `Approver`, `Decision`, `ApprovalDecisionTime` and `Comment`. A decision
/// whose approver is `bot` (the caller's identity, when known) is the bot's.
pub(crate) fn decisions(
    outputs: Option<&HashMap<String, Vec<String>>>,
    bot: Option<&str>,
) -> Vec<ApprovalDecisionRecord> {
    let Some(values) = outputs.and_then(|o| o.get("ApproverDecisions")) else {
        return Vec::new();
    };
    let mut objects = Vec::new();
    for value in values {
        match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Array(items)) => objects.extend(items),
            Ok(object @ serde_json::Value::Object(_)) => objects.push(object),
            _ => tracing::debug!(value, "unreadable ApproverDecisions entry"),
        }
    }
    let mut decisions: Vec<ApprovalDecisionRecord> = objects.iter().filter_map(decision).collect();
    if let Some(bot) = bot {
        for decision in &mut decisions {
            decision.by_bot = approver_matches(&decision.approver, bot)
                || approver_matches(bot, &decision.approver);
        }
    }
    decisions
}

fn decision(object: &serde_json::Value) -> Option<ApprovalDecisionRecord> {
    let text = |key: &str| object.get(key).and_then(serde_json::Value::as_str);
    let decision = match text("Decision").or_else(|| text("Type"))? {
        "Approve" | "Approved" => Signal::Approve,
        "Reject" | "Rejected" => Signal::Reject,
        _ => return None,
    };
    Some(ApprovalDecisionRecord {
        approver: text("Approver")?.to_owned(),
        decision,
        at: text("ApprovalDecisionTime")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        comment: text("Comment").map(str::to_owned),
        by_bot: false,
    })
}

/// How an `aws:approve` step's wait ended, from its status, its
/// `ApprovalStatus` output and its decisions; `None` while it has not.
fn outcome(
    status: &StepStatus,
    approval_status: Option<&str>,
    decisions: &[ApprovalDecisionRecord],
    failure: Option<&str>,
) -> Option<WaitOutcome> {
    let rejection = decisions
        .iter()
        .rev()
        .find(|d| d.decision == Signal::Reject);
    match status {
        StepStatus::Succeeded => Some(WaitOutcome::Approved {
            decisions: decisions
                .iter()
                .filter(|d| d.decision == Signal::Approve)
                .cloned()
                .collect(),
        }),
        StepStatus::Failed => match rejection {
            Some(decision) => Some(WaitOutcome::Rejected {
                decision: decision.clone(),
            }),
            // Rejected, says the step, without naming who: keep it unnamed
            // rather than guess.
            None if approval_status == Some("Rejected") => Some(WaitOutcome::Rejected {
                decision: ApprovalDecisionRecord {
                    approver: "an approver AWS did not name".to_owned(),
                    decision: Signal::Reject,
                    at: None,
                    comment: None,
                    by_bot: false,
                },
            }),
            None => Some(WaitOutcome::Failed {
                message: failure.map(str::to_owned),
            }),
        },
        StepStatus::TimedOut => Some(WaitOutcome::TimedOut),
        StepStatus::Cancelled => Some(WaitOutcome::Cancelled),
        _ => None,
    }
}

fn step(step: &StepExecution, bot: Option<&str>) -> StepSnapshot {
    let action = step.action().unwrap_or_default().to_owned();
    let status = step.step_status().map_or(StepStatus::Pending, step_status);
    let mut snapshot = StepSnapshot::new(
        step.step_name().unwrap_or_default(),
        action.clone(),
        status.clone(),
    );
    snapshot.started_at = time(step.execution_start_time());
    snapshot.ended_at = time(step.execution_end_time());
    snapshot.failure_message = step.failure_message().map(str::to_owned);
    if action == APPROVE_ACTION {
        snapshot.is_approval = true;
        snapshot.decisions = decisions(step.outputs(), bot);
        let approval_status = step
            .outputs()
            .and_then(|o| o.get("ApprovalStatus"))
            .and_then(|v| v.first())
            .map(String::as_str);
        snapshot.outcome = outcome(
            &status,
            approval_status,
            &snapshot.decisions,
            step.failure_message(),
        );
    }
    snapshot
}

/// The approval wait, when the execution waits on an `aws:approve` step
/// (not on an `aws:pause` or anything else that waits).
fn approval_wait(status: &ExecutionStatus, steps: &[StepExecution]) -> Option<ApprovalWait> {
    if *status != ExecutionStatus::Waiting {
        return None;
    }
    let waiting = steps
        .iter()
        .find(|s| s.action() == Some(APPROVE_ACTION) && s.step_status() == Some(&Ssm::Waiting))?;
    Some(ApprovalWait {
        step: waiting.step_name().unwrap_or_default().to_owned(),
        message: input(waiting, "Message"),
        min_approvals: input(waiting, "MinRequiredApprovals").and_then(|n| n.parse().ok()),
    })
}

/// A GetAutomationExecution result in core terms; `steps` replaces the
/// execution's own step list when it was truncated and read in full, and
/// `bot` is the caller's identity (to tell the bot's decisions apart).
pub(crate) fn snapshot(
    execution: &AutomationExecution,
    steps: Option<&[StepExecution]>,
    bot: Option<&str>,
) -> ExecutionSnapshot {
    let step_executions = steps.unwrap_or(execution.step_executions());
    let status = execution
        .automation_execution_status()
        .map_or(ExecutionStatus::Pending, execution_status);
    let outputs: BTreeMap<String, Vec<String>> = execution
        .outputs()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    ExecutionSnapshot {
        waiting_for_approval: approval_wait(&status, step_executions),
        steps: step_executions.iter().map(|s| step(s, bot)).collect(),
        failure_message: execution.failure_message().map(str::to_owned),
        outputs,
        started_at: time(execution.execution_start_time()),
        ended_at: time(execution.execution_end_time()),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ssm_status_is_mapped() {
        use ExecutionStatus as C;
        let cases = [
            (Ssm::Pending, C::Pending),
            (Ssm::Inprogress, C::Running),
            (Ssm::Waiting, C::Waiting),
            (Ssm::Success, C::Succeeded),
            (Ssm::Timedout, C::TimedOut),
            (Ssm::Cancelling, C::Cancelling),
            (Ssm::Cancelled, C::Cancelled),
            (Ssm::Failed, C::Failed),
            (Ssm::PendingApproval, C::Pending),
            (Ssm::Approved, C::Pending),
            (Ssm::Rejected, C::Failed),
            (Ssm::Scheduled, C::Pending),
            (Ssm::RunbookInprogress, C::Running),
            (Ssm::PendingChangeCalendarOverride, C::Pending),
            (Ssm::ChangeCalendarOverrideApproved, C::Pending),
            (Ssm::ChangeCalendarOverrideRejected, C::Failed),
            (Ssm::CompletedWithSuccess, C::Succeeded),
            (Ssm::CompletedWithFailure, C::Failed),
            (Ssm::Exited, C::Unknown("Exited".into())),
            (Ssm::from("Hibernating"), C::Unknown("Hibernating".into())),
        ];
        for (ssm, core) in cases {
            assert_eq!(execution_status(&ssm), core, "{ssm:?}");
        }
        // Every variant the SDK knows is covered above.
        assert_eq!(Ssm::values().len(), 19);
        assert_eq!(step_status(&Ssm::Waiting), StepStatus::Waiting);
        assert_eq!(step_status(&Ssm::Cancelling), StepStatus::Running);
        assert_eq!(
            step_status(&Ssm::from("New")),
            StepStatus::Unknown("New".into())
        );
    }

    fn approve_step(status: Ssm, outputs: Option<HashMap<String, Vec<String>>>) -> StepExecution {
        StepExecution::builder()
            .step_name("Approve")
            .action(APPROVE_ACTION)
            .step_status(status)
            .inputs("Message", "\"Ship r-1?\"")
            .inputs("MinRequiredApprovals", "2")
            .set_outputs(outputs)
            .build()
    }

    #[test]
    fn waiting_on_an_approve_step_is_an_approval_wait() {
        let execution = AutomationExecution::builder()
            .automation_execution_status(Ssm::Waiting)
            .step_executions(approve_step(Ssm::Waiting, None))
            .build();
        let snap = snapshot(&execution, None, None);
        assert_eq!(
            snap.waiting_for_approval,
            Some(ApprovalWait {
                step: "Approve".into(),
                message: Some("Ship r-1?".into()),
                min_approvals: Some(2),
            })
        );
        // Waiting on something else (aws:pause) is no approval wait.
        let paused = AutomationExecution::builder()
            .automation_execution_status(Ssm::Waiting)
            .step_executions(
                StepExecution::builder()
                    .step_name("Pause")
                    .action("aws:pause")
                    .step_status(Ssm::Waiting)
                    .build(),
            )
            .build();
        assert_eq!(snapshot(&paused, None, None).waiting_for_approval, None);
    }

    #[test]
    fn approver_decisions_are_parsed() {
        let entry = r#"{"Approver":"arn:aws:iam::1:user/bob","Decision":"Reject","ApprovalDecisionTime":"2026-04-06T07:22:51.034463Z","Comment":"not now"}"#;
        let outputs = HashMap::from([
            ("ApprovalStatus".to_owned(), vec!["Rejected".to_owned()]),
            (
                "ApproverDecisions".to_owned(),
                vec![entry.to_owned(), "garbage".to_owned()],
            ),
        ]);
        let snap = snapshot(
            &AutomationExecution::builder()
                .automation_execution_status(Ssm::Failed)
                .step_executions(approve_step(Ssm::Failed, Some(outputs)))
                .build(),
            None,
            Some("arn:aws:sts::1:assumed-role/chatdeploy/s"),
        );
        let decisions = &snap.steps[0].decisions;
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].approver, "arn:aws:iam::1:user/bob");
        assert_eq!(decisions[0].decision, Signal::Reject);
        assert_eq!(decisions[0].comment.as_deref(), Some("not now"));
        assert!(decisions[0].at.is_some());
        assert!(!decisions[0].by_bot, "bob is not the bot");
        assert_eq!(snap.steps[0].status, StepStatus::Failed);
        assert!(snap.steps[0].is_approval);
        assert!(matches!(
            &snap.steps[0].outcome,
            Some(WaitOutcome::Rejected { decision }) if decision.approver == "arn:aws:iam::1:user/bob"
        ));
    }

    #[test]
    fn approval_outcomes_follow_the_step() {
        let bot = "arn:aws:sts::123456789012:assumed-role/chatdeploy/s";
        let entry = r#"{"Approver":"arn:aws:iam::123456789012:role/chatdeploy","Decision":"Approve","ApprovalDecisionTime":"2026-04-06T07:22:51.034463Z","Comment":"ok"}"#;
        let outputs = HashMap::from([
            ("ApprovalStatus".to_owned(), vec!["Approved".to_owned()]),
            ("ApproverDecisions".to_owned(), vec![entry.to_owned()]),
        ]);
        let approved = step(&approve_step(Ssm::Success, Some(outputs)), Some(bot));
        match &approved.outcome {
            Some(WaitOutcome::Approved { decisions }) => {
                assert_eq!(decisions.len(), 1);
                assert!(decisions[0].by_bot, "the role's session is the bot");
            }
            other => panic!("{other:?}"),
        }
        for (status, expected) in [
            (Ssm::Timedout, Some(WaitOutcome::TimedOut)),
            (Ssm::Cancelled, Some(WaitOutcome::Cancelled)),
            (Ssm::Waiting, None),
            (Ssm::Pending, None),
        ] {
            assert_eq!(
                step(&approve_step(status.clone(), None), Some(bot)).outcome,
                expected,
                "{status:?}"
            );
        }
        // Failed without a rejection: a failure, not a rejection.
        assert!(matches!(
            step(&approve_step(Ssm::Failed, None), Some(bot)).outcome,
            Some(WaitOutcome::Failed { .. })
        ));
    }
}
