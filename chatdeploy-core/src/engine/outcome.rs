//! The end of an execution: the open wait closed with what the backend
//! reports, the release's outcome, and an approval that never happened
//! noticed and said loudly.

use crate::audit::AuditAction;
use crate::backend::{ExecutionSnapshot, ExecutionStatus, Signal, WaitOutcome};
use crate::catalog::ApprovalMode;
use crate::state::{DeploymentRecord, Stage, WaitEnd};

use super::messages::BEFORE_START;
use super::supervisor::{Next, Supervisor};
use super::wait_end::end_of_wait;

impl Supervisor {
    /// The execution ended: record the outcome and finish.
    pub(super) async fn ended(
        &mut self,
        mut record: DeploymentRecord,
        snapshot: &ExecutionSnapshot,
    ) -> Next {
        if let Some(wait) = record.approval.as_ref().filter(|w| w.is_open()) {
            let step = snapshot.step(&wait.key).cloned();
            let cancelled_by = record.cancelled_by.as_ref();
            let end = match step.as_ref().and_then(|s| s.outcome.as_ref()) {
                Some(outcome) => end_of_wait(wait, outcome, cancelled_by),
                // No outcome for the step: say only what the execution's
                // status says.
                None => match &snapshot.status {
                    ExecutionStatus::Cancelled => {
                        end_of_wait(wait, &WaitOutcome::Cancelled, cancelled_by)
                    }
                    ExecutionStatus::TimedOut => WaitEnd::TimedOut { in_backend: true },
                    _ => WaitEnd::Failed {
                        message: snapshot.failure_message.clone(),
                    },
                },
            };
            self.close_wait(&mut record, end, step.as_ref()).await;
        }
        self.audit_unseen_decisions(&record, snapshot).await;
        let end = record.approval.as_ref().and_then(|w| w.ended.clone());
        record.stage = match (&snapshot.status, &end) {
            (ExecutionStatus::Succeeded, _) => Stage::Succeeded,
            (_, Some(WaitEnd::Rejected { .. })) => Stage::Rejected,
            (_, Some(WaitEnd::TimedOut { .. })) => Stage::TimedOut,
            (ExecutionStatus::Cancelled, _) => Stage::Cancelled,
            (ExecutionStatus::TimedOut, _) => Stage::TimedOut,
            _ => Stage::Failed,
        };
        if record.stage == Stage::Failed {
            record.failure = Some(failure_text(snapshot));
        }
        let document_approval = self
            .shared
            .catalog
            .service(&record.service)
            .is_ok_and(|s| s.approval_mode() == ApprovalMode::Document);
        if document_approval {
            record.bypassed = bypass(&record, snapshot);
        }
        self.finish(record).await
    }

    /// Audits approval steps decided before chatdeploy saw them wait (a
    /// console decision between two polls): they are still decisions.
    async fn audit_unseen_decisions(
        &self,
        record: &DeploymentRecord,
        snapshot: &ExecutionSnapshot,
    ) {
        let seen = record.approval.as_ref().map(|w| w.key.as_str());
        for step in snapshot
            .steps
            .iter()
            .filter(|s| s.is_approval && Some(s.name.as_str()) != seen)
        {
            let (decision, decisions) = match &step.outcome {
                Some(WaitOutcome::Approved { decisions }) => (Signal::Approve, decisions.clone()),
                Some(WaitOutcome::Rejected { decision }) => {
                    (Signal::Reject, vec![decision.clone()])
                }
                _ => continue,
            };
            let mut event = self.audit_record(
                AuditAction::DecidedOutsideChat,
                record,
                &format!("{}:decided_outside_chat", step.name),
            );
            event.decision = Some(decision);
            event.principal = Some(
                decisions
                    .iter()
                    .map(|d| d.approver.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let comments: Vec<String> =
                decisions.iter().filter_map(|d| d.comment.clone()).collect();
            event.reason = (!comments.is_empty()).then(|| comments.join("; "));
            self.shared.audit_after(event).await;
        }
    }
}

fn failure_text(snapshot: &ExecutionSnapshot) -> String {
    match snapshot.failed_step() {
        Some(step) => format!(
            "Step {} failed: {}",
            step.name,
            step.failure_message
                .clone()
                .or_else(|| snapshot.failure_message.clone())
                .unwrap_or_else(|| "no message from the backend".to_owned())
        ),
        None => snapshot
            .failure_message
            .clone()
            .unwrap_or_else(|| "The execution failed without a message.".to_owned()),
    }
}

/// Why an execution of a service whose approval lives in its document
/// counts as having run without it, if it does: it never waited at an
/// approval step, yet it succeeded or ran steps beyond where the gate is.
fn bypass(record: &DeploymentRecord, snapshot: &ExecutionSnapshot) -> Option<String> {
    let waited = record
        .approval
        .as_ref()
        .is_some_and(|w| w.key != BEFORE_START)
        || snapshot.steps.iter().any(|s| s.is_approval && s.has_run());
    if waited {
        return None;
    }
    let gate = record.gate.as_ref();
    let before: Vec<String> = gate.map(|g| g.steps_before_approval()).unwrap_or_default();
    let past_gate: Vec<&str> = snapshot
        .steps
        .iter()
        .filter(|s| s.has_run() && !s.is_approval && !before.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    let ran_past =
        snapshot.status == ExecutionStatus::Succeeded || (gate.is_some() && !past_gate.is_empty());
    if !ran_past {
        return None;
    }
    let expected = gate
        .map(|g| {
            g.steps
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|names| !names.is_empty())
        .map(|names| format!(" (the document's approval step: {names})"))
        .unwrap_or_default();
    let ran = if past_gate.is_empty() {
        String::new()
    } else {
        format!("; steps that ran: {}", past_gate.join(", "))
    };
    Some(format!(
        "the execution {} without ever waiting at an approval step{expected}, so nobody \
         approved this release{ran}",
        match snapshot.status {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Cancelled => "was cancelled",
            ExecutionStatus::TimedOut => "timed out",
            _ => "failed",
        }
    ))
}
