//! What an execution looks like at one moment.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Signal;

/// An execution's overall status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Accepted, not running yet.
    Pending,
    /// Running.
    Running,
    /// Paused on a step that waits (e.g. an approval).
    Waiting,
    /// Being cancelled.
    Cancelling,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failure (including a rejected approval).
    Failed,
    /// Cancelled.
    Cancelled,
    /// Ran out of time.
    TimedOut,
    /// A status this version does not know; treated as still running so the
    /// engine keeps watching rather than declaring an outcome it cannot know.
    Unknown(String),
}

impl ExecutionStatus {
    /// Whether the execution has finished for good.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

/// A step's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Running.
    Running,
    /// Waiting (e.g. for an approval).
    Waiting,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
    /// Timed out.
    TimedOut,
    /// Skipped.
    Skipped,
    /// A status this version does not know.
    Unknown(String),
}

/// One decision recorded by the backend on an approval step, whoever made it
/// (the bot, or someone in the AWS console or CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecisionRecord {
    /// Who decided, as the backend names them (e.g. an IAM ARN).
    pub approver: String,
    /// Approve or reject.
    pub decision: Signal,
    /// When, if the backend reports it.
    pub at: Option<DateTime<Utc>>,
    /// The comment sent with it.
    pub comment: Option<String>,
    /// Whether the backend's own identity made it, i.e. it is the bot's
    /// signal (as opposed to a person in the console or CLI).
    #[serde(default)]
    pub by_bot: bool,
}

/// How an approval step's wait ended, as the backend reports it: read from
/// the step's status and the decisions it recorded, never inferred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitOutcome {
    /// Enough approvals were recorded; these are the approving decisions.
    Approved {
        /// The decisions that approved, in the order recorded.
        decisions: Vec<ApprovalDecisionRecord>,
    },
    /// An approver rejected.
    Rejected {
        /// The rejecting decision (who, when, with which comment).
        decision: ApprovalDecisionRecord,
    },
    /// The step's own timeout passed without enough approvals.
    TimedOut,
    /// The execution was stopped while the step waited.
    Cancelled,
    /// The step ended otherwise, e.g. the execution failed during the wait.
    Failed {
        /// The backend's message, if any.
        message: Option<String>,
    },
}

/// One step of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSnapshot {
    /// The step's name.
    pub name: String,
    /// Its action (SSM: e.g. `aws:approve`, `aws:runCommand`).
    pub action: String,
    /// Its status.
    pub status: StepStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure_message: Option<String>,
    /// Approval decisions recorded on this step (approval steps only).
    pub decisions: Vec<ApprovalDecisionRecord>,
    /// Whether this is an approval step (SSM: `aws:approve`).
    #[serde(default)]
    pub is_approval: bool,
    /// How the wait of an approval step ended, once it has.
    #[serde(default)]
    pub outcome: Option<WaitOutcome>,
}

impl StepSnapshot {
    /// A step with a name, an action and a status, for fakes and tests.
    pub fn new(name: impl Into<String>, action: impl Into<String>, status: StepStatus) -> Self {
        Self {
            name: name.into(),
            action: action.into(),
            status,
            started_at: None,
            ended_at: None,
            failure_message: None,
            decisions: Vec::new(),
            is_approval: false,
            outcome: None,
        }
    }

    /// Whether the step ran (or runs): it is neither pending nor skipped.
    pub fn has_run(&self) -> bool {
        !matches!(self.status, StepStatus::Pending | StepStatus::Skipped)
    }
}

/// The execution is paused on an approval step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalWait {
    /// The approval step's name; with the execution ID it identifies one wait.
    pub step: String,
    /// The message the document shows approvers, if any.
    pub message: Option<String>,
    /// How many approvals the document itself requires, if it says.
    pub min_approvals: Option<u32>,
}

/// An execution's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionSnapshot {
    /// Overall status.
    pub status: ExecutionStatus,
    /// Steps in document order, as far as the backend reports them.
    pub steps: Vec<StepSnapshot>,
    /// Set while the execution waits on an approval step.
    pub waiting_for_approval: Option<ApprovalWait>,
    /// Why it failed, if it did.
    pub failure_message: Option<String>,
    /// The execution's outputs.
    pub outputs: BTreeMap<String, Vec<String>>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl ExecutionSnapshot {
    /// A snapshot with just a status, for fakes and tests.
    pub fn with_status(status: ExecutionStatus) -> Self {
        Self {
            status,
            steps: Vec::new(),
            waiting_for_approval: None,
            failure_message: None,
            outputs: BTreeMap::new(),
            started_at: None,
            ended_at: None,
        }
    }

    /// The step that failed, if any.
    pub fn failed_step(&self) -> Option<&StepSnapshot> {
        self.steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut))
    }

    /// A step by name.
    pub fn step(&self, name: &str) -> Option<&StepSnapshot> {
        self.steps.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_is_not_terminal() {
        assert!(!ExecutionStatus::Unknown("Exited".into()).is_terminal());
        assert!(ExecutionStatus::Cancelled.is_terminal());
        assert!(!ExecutionStatus::Waiting.is_terminal());
    }

    #[test]
    fn failed_step_is_found() {
        let mut snapshot = ExecutionSnapshot::with_status(ExecutionStatus::Failed);
        let mut step = StepSnapshot::new("Rollout", "aws:runCommand", StepStatus::Failed);
        step.failure_message = Some("exit 1".into());
        snapshot.steps.push(step);
        assert_eq!(
            snapshot.failed_step().map(|s| s.name.as_str()),
            Some("Rollout")
        );
    }
}
