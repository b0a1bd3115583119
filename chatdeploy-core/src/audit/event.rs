//! One audit record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::Signal;
use crate::ids::{ChannelId, DeploymentId, EventId, ExecutionId, MessageId, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A mutating command was received and is about to be acted on.
    Requested,
    /// A command was refused (authorisation, validation, lock).
    Denied,
    /// A read-only command was answered.
    Queried,
    /// The backend execution was started.
    Started,
    /// The backend refused to start the execution.
    StartFailed,
    /// An approval request was posted.
    ApprovalRequested,
    /// An approval was counted.
    Approved,
    /// An approval click was refused by the policy.
    ApprovalDenied,
    /// The release was rejected by an approver.
    Rejected,
    /// An approval decision was sent to the backend.
    Signalled,
    /// The backend refused the bot's approval signal: it was not delivered.
    SignalRefused,
    /// The backend recorded the decision chat made (the bot's signal).
    ApprovalRecorded,
    /// The backend's approval step was decided outside chat.
    DecidedOutsideChat,
    /// The execution ended without the approval its service requires.
    ApprovalBypassed,
    /// A cancellation was asked for.
    CancelRequested,
    /// The release was cancelled.
    Cancelled,
    /// The release succeeded.
    Succeeded,
    /// The release failed.
    Failed,
    /// The release timed out (e.g. no approval in time).
    TimedOut,
    /// A service was locked.
    Locked,
    /// A service was unlocked.
    Unlocked,
    /// An in-flight release was picked up again after a restart.
    Resumed,
}

impl AuditAction {
    /// The action's name as serialised (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Denied => "denied",
            Self::Queried => "queried",
            Self::Started => "started",
            Self::StartFailed => "start_failed",
            Self::ApprovalRequested => "approval_requested",
            Self::Approved => "approved",
            Self::ApprovalDenied => "approval_denied",
            Self::Rejected => "rejected",
            Self::Signalled => "signalled",
            Self::SignalRefused => "signal_refused",
            Self::ApprovalRecorded => "approval_recorded",
            Self::DecidedOutsideChat => "decided_outside_chat",
            Self::ApprovalBypassed => "approval_bypassed",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Locked => "locked",
            Self::Unlocked => "unlocked",
            Self::Resumed => "resumed",
        }
    }
}

/// One record: who did what to which release, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The record's unique ID. Lifecycle records get a deterministic ID
    /// (e.g. `d-3f2c9a1b2c:started`), so a step replayed after a restart
    /// produces the same ID and sinks can drop the copy.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: AuditAction,
    /// Who (an immutable user ID); `None` when chatdeploy acted on its own
    /// (a timeout, an outcome reported by the backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<UserId>,
    /// The canonical command text, when a command caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// chatdeploy's release ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentId>,
    /// The backend execution ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionId>,
    /// The channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelId>,
    /// The thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<MessageId>,
    /// The inbound event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<EventId>,
    /// The approval decision the record is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Signal>,
    /// Who acted outside chat, as the backend names them (e.g. the IAM ARN
    /// of a person who decided in the AWS console).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Why (a denial's reason, a rejection's reason or comment, a failure
    /// message, the backend's refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditEvent {
    /// A record of `action` by `actor`, now, with a fresh random ID and
    /// every other field empty.
    pub fn new(action: AuditAction, actor: Option<UserId>) -> Self {
        Self::identified(uuid::Uuid::new_v4().to_string(), action, actor)
    }

    /// Like [`AuditEvent::new`] with a given (e.g. deterministic) ID.
    pub fn identified(id: impl Into<String>, action: AuditAction, actor: Option<UserId>) -> Self {
        Self::identified_at(id, Utc::now(), action, actor)
    }

    /// Like [`AuditEvent::identified`], at a given time.
    pub fn identified_at(
        id: impl Into<String>,
        at: DateTime<Utc>,
        action: AuditAction,
        actor: Option<UserId>,
    ) -> Self {
        Self {
            id: id.into(),
            at,
            action,
            actor,
            command: None,
            service: None,
            version: None,
            environment: None,
            deployment: None,
            execution: None,
            channel: None,
            thread: None,
            source_event: None,
            decision: None,
            principal: None,
            reason: None,
        }
    }

    /// Sets the record's ID (see [`AuditEvent::id`]).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialised_form() {
        for action in [
            AuditAction::Requested,
            AuditAction::DecidedOutsideChat,
            AuditAction::TimedOut,
        ] {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::Value::String(action.as_str().to_owned())
            );
        }
    }

    #[test]
    fn serialises_without_empty_fields_and_round_trips() {
        let mut event = AuditEvent::new(AuditAction::Requested, Some(UserId::new("U01")));
        event.service = Some("app".into());
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""action":"requested""#), "{json}");
        assert!(json.contains(r#""actor":"U01""#), "{json}");
        assert!(!json.contains("null"), "{json}");
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }
}
