//! What the state store keeps: releases, locks, history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backend::{ApprovalGate, Signal};
use crate::ids::{ChannelId, DeploymentId, EventId, ExecutionId, MessageId, UserId};

/// Where a release is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Accepted, nothing started yet.
    Requested,
    /// Waiting for approvers (before the start, or at a document's approval
    /// step).
    AwaitingApproval,
    /// The backend execution is being started.
    Starting,
    /// The backend execution runs.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failure.
    Failed,
    /// Rejected by an approver.
    Rejected,
    /// Cancelled.
    Cancelled,
    /// No decision or no completion in time.
    TimedOut,
}

impl Stage {
    /// Whether the release has finished for good.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Rejected | Self::Cancelled | Self::TimedOut
        )
    }

    /// A lowercase word for messages and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::AwaitingApproval => "awaiting approval",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed out",
        }
    }
}

/// Whether a release is a deploy or a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    /// `deploy`.
    Deploy,
    /// `rollback`.
    Rollback,
}

/// One counted approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A rejection given in chat, or chatdeploy's own at the approval deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Who rejected; `None` when chatdeploy rejected because nobody decided
    /// by the deadline.
    pub by: Option<UserId>,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, if they said.
    pub reason: Option<String>,
}

/// Who decided something: a person in chat, or someone the backend names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A chat user.
    User(UserId),
    /// Someone outside chat, as the backend names them (e.g. the IAM ARN of
    /// a person who decided in the AWS console).
    Backend(String),
}

/// How one approval wait ended: for a backend's approval step, what the
/// backend reported (never inferred); before the start, what chat decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitEnd {
    /// Approved: by these chat users (delivered as the bot's signal) and
    /// these principals outside chat.
    Approved {
        /// Chat users whose approvals the bot delivered.
        in_chat: Vec<UserId>,
        /// Principals who approved outside chat, as the backend names them.
        outside: Vec<String>,
    },
    /// Rejected.
    Rejected {
        /// Who rejected.
        by: Actor,
        /// Their reason or comment.
        reason: Option<String>,
    },
    /// Nobody decided in time.
    TimedOut {
        /// `true` when the backend's step timed out, `false` when
        /// chatdeploy's own approval deadline passed.
        in_backend: bool,
    },
    /// The release was cancelled while waiting.
    Cancelled {
        /// The chat user who cancelled; `None` when it was stopped outside
        /// chat (the backend does not say by whom).
        by: Option<UserId>,
    },
    /// The execution failed during the wait.
    Failed {
        /// The backend's message.
        message: Option<String>,
    },
}

/// One wait for approvers: before the start, or at one approval step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalState {
    /// Which wait: `before_start`, or the backend's approval step name.
    pub key: String,
    /// When the approval was requested.
    pub requested_at: DateTime<Utc>,
    /// The approval request message in the thread, once posted.
    pub message: Option<MessageId>,
    /// Approvals counted so far.
    pub approvals: Vec<Approval>,
    /// The rejection, if any.
    pub rejection: Option<Rejection>,
    /// The decision claimed for sending to the backend: set once, by the
    /// one caller whose revision-checked update won, before it signals.
    pub decision: Option<Signal>,
    /// Whether the decision must not be sent (again): it was delivered, or
    /// the wait ended without it.
    pub signalled: bool,
    /// The backend refused the bot's signal, with its message: the
    /// decision was not delivered and the wait goes on.
    #[serde(default)]
    pub refused: Option<String>,
    /// How the wait ended, once it has.
    #[serde(default)]
    pub ended: Option<WaitEnd>,
}

impl ApprovalState {
    /// A fresh wait.
    pub fn new(key: impl Into<String>, requested_at: DateTime<Utc>) -> Self {
        Self {
            key: key.into(),
            requested_at,
            message: None,
            approvals: Vec::new(),
            rejection: None,
            decision: None,
            signalled: false,
            refused: None,
            ended: None,
        }
    }

    /// Who approved in this wait.
    pub fn approvers(&self) -> Vec<UserId> {
        self.approvals.iter().map(|a| a.by.clone()).collect()
    }

    /// Whether the wait is still open (no end recorded).
    pub fn is_open(&self) -> bool {
        self.ended.is_none()
    }
}

/// A problem watching a release's execution (reads refused, a status
/// chatdeploy does not know), shown in the thread until it clears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchProblem {
    /// Since when.
    pub since: DateTime<Utc>,
    /// What is wrong, for people.
    pub message: String,
    /// Whether it was posted in the thread.
    pub posted: bool,
    /// The status chatdeploy does not know, when that is the problem
    /// (`None`: the execution cannot be read).
    #[serde(default)]
    pub status: Option<String>,
}

/// One release, as the engine tracks it. Updates are revision-checked (see
/// [`super::StateStore::update_deployment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// chatdeploy's ID.
    pub id: DeploymentId,
    /// Deploy or rollback.
    pub kind: ReleaseKind,
    /// The canonical service name.
    pub service: String,
    /// The version.
    pub version: String,
    /// The environment.
    pub environment: String,
    /// The ticket, if given.
    pub ticket: Option<String>,
    /// Who asked.
    pub requester: UserId,
    /// The channel of the request.
    pub channel: ChannelId,
    /// The thread the release talks in (the request message's thread root).
    pub thread: Option<MessageId>,
    /// The one status message, updated in place, once posted.
    pub status_message: Option<MessageId>,
    /// The inbound event that asked for it.
    pub source_event: EventId,
    /// The backend idempotency token derived from `source_event`.
    pub idempotency_token: Uuid,
    /// The backend execution, once started.
    pub execution: Option<ExecutionId>,
    /// Where it is.
    pub stage: Stage,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the execution started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub ended_at: Option<DateTime<Utc>>,
    /// The current (or last) approval wait.
    pub approval: Option<ApprovalState>,
    /// Everyone who approved, over every wait.
    pub approved_by: Vec<UserId>,
    /// Who cancelled it, if someone did.
    pub cancelled_by: Option<UserId>,
    /// The failing step and its message, if it failed.
    pub failure: Option<String>,
    /// The approval gate verified before the start (services whose
    /// approval lives in their document).
    #[serde(default)]
    pub gate: Option<ApprovalGate>,
    /// Why the release counts as having run without the approval its
    /// service requires, if it does.
    #[serde(default)]
    pub bypassed: Option<String>,
    /// A problem watching the execution, while it lasts.
    #[serde(default)]
    pub watch_problem: Option<WatchProblem>,
    /// Set once every step of finishing (outcome audited, history written,
    /// lock released) is done; until then the release is resumed after a
    /// restart even if its stage is terminal.
    pub finalized: bool,
    /// Bumped by the store on every successful update.
    pub revision: u64,
}

/// One finished release, for `history` and `rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// chatdeploy's ID.
    pub deployment: DeploymentId,
    /// Deploy or rollback.
    pub kind: ReleaseKind,
    /// The canonical service name.
    pub service: String,
    /// The version.
    pub version: String,
    /// The environment.
    pub environment: String,
    /// Who asked.
    pub requester: UserId,
    /// Who approved.
    pub approved_by: Vec<UserId>,
    /// How it ended (a terminal stage).
    pub outcome: Stage,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When it finished.
    pub ended_at: DateTime<Utc>,
    /// The backend execution, if one was started.
    pub execution: Option<ExecutionId>,
    /// Who approved outside chat, as the backend names them.
    #[serde(default)]
    pub approved_outside: Vec<String>,
    /// Who rejected or cancelled it, when someone did.
    #[serde(default)]
    pub ended_by: Option<Actor>,
    /// Why it ended so: the rejection's reason, the failure, the timeout.
    #[serde(default)]
    pub reason: Option<String>,
    /// Why it counts as having run without its required approval, if so.
    #[serde(default)]
    pub bypassed: Option<String>,
}

impl ReleaseRecord {
    /// The history entry of a finished release.
    pub fn from_finished(record: &DeploymentRecord, ended_at: DateTime<Utc>) -> Self {
        Self {
            deployment: record.id.clone(),
            kind: record.kind,
            service: record.service.clone(),
            version: record.version.clone(),
            environment: record.environment.clone(),
            requester: record.requester.clone(),
            approved_by: record.approved_by.clone(),
            outcome: record.stage,
            requested_at: record.requested_at,
            ended_at,
            execution: record.execution.clone(),
            approved_outside: record
                .approval
                .iter()
                .filter_map(|w| match &w.ended {
                    Some(WaitEnd::Approved { outside, .. }) => Some(outside.clone()),
                    _ => None,
                })
                .flatten()
                .collect(),
            ended_by: record.ended_by(),
            reason: record.end_reason(),
            bypassed: record.bypassed.clone(),
        }
    }
}

impl DeploymentRecord {
    /// Who rejected or cancelled the release, when someone did.
    pub fn ended_by(&self) -> Option<Actor> {
        match self.stage {
            Stage::Cancelled => match self.approval.as_ref().and_then(|w| w.ended.as_ref()) {
                Some(WaitEnd::Cancelled { by: None }) => None,
                _ => self.cancelled_by.clone().map(Actor::User),
            },
            Stage::Rejected => match self.approval.as_ref().and_then(|w| w.ended.as_ref()) {
                Some(WaitEnd::Rejected { by, .. }) => Some(by.clone()),
                _ => self
                    .approval
                    .as_ref()
                    .and_then(|w| w.rejection.as_ref())
                    .and_then(|r| r.by.clone())
                    .map(Actor::User),
            },
            _ => None,
        }
    }

    /// Why the release ended as it did, in a few words: a failure, a
    /// rejection's reason, a timeout, a stop outside chat.
    pub fn end_reason(&self) -> Option<String> {
        if let Some(failure) = &self.failure {
            return Some(failure.clone());
        }
        let wait = self.approval.as_ref()?;
        match &wait.ended {
            Some(WaitEnd::Rejected { reason, .. }) => reason.clone(),
            Some(WaitEnd::TimedOut { in_backend: true }) => {
                Some(format!("approval step {} timed out in AWS", wait.key))
            }
            Some(WaitEnd::TimedOut { in_backend: false }) => wait
                .rejection
                .as_ref()
                .and_then(|r| r.reason.clone())
                .or_else(|| Some("nobody decided in time".to_owned())),
            Some(WaitEnd::Cancelled { by: None }) => Some(format!(
                "stopped outside chat while waiting for approval at {}",
                wait.key
            )),
            Some(WaitEnd::Failed { message }) => message.clone(),
            _ => None,
        }
    }
}

/// Who holds a service lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LockHolder {
    /// A release in flight.
    Release {
        /// The release.
        deployment: DeploymentId,
        /// Its version.
        version: String,
        /// Who asked for it.
        requester: UserId,
    },
    /// A person froze the service with `lock`.
    Manual {
        /// Who.
        by: UserId,
        /// Why, if they said.
        reason: Option<String>,
    },
}

/// A service lock: one release in flight per service, or a freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLock {
    /// The canonical service name.
    pub service: String,
    /// Who holds it.
    pub holder: LockHolder,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// The result of trying to take a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    /// The lock is ours.
    Acquired,
    /// Someone else holds it.
    Held(ServiceLock),
}
