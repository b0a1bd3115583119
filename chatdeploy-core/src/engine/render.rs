//! The engine's release messages: the status message (updated in place),
//! the approval request and the final summary.
//!
//! Text uses Slack-style markup (`<@U…>` mentions, `*bold*`), the common
//! denominator the surfaces understand; a terminal surface strips it.

use chrono::{DateTime, Utc};

use crate::backend::Signal;
use crate::backend::{ExecutionSnapshot, StepStatus};
use crate::chat::{Button, ButtonAction, ButtonStyle, Confirm, Message, StepLine, StepState, Tone};
use crate::ids::{Principal, UserId};
use crate::state::{ApprovalState, DeploymentRecord, ReleaseKind, Stage};

/// Links to the record of a release.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    pub(crate) release: Option<String>,
    pub(crate) execution: Option<String>,
}

pub(crate) fn mention(user: &UserId) -> String {
    format!("<@{user}>")
}

pub(crate) fn mention_principal(principal: &Principal) -> String {
    match principal {
        Principal::User(user) => mention(user),
        Principal::Group(group) => format!("<!subteam^{group}>"),
    }
}

pub(crate) fn mentions(users: &[UserId]) -> String {
    users.iter().map(mention).collect::<Vec<_>>().join(", ")
}

pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(crate) fn format_duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// "app r-99.1.0 to production" (or "app back to r-98.0.0 in production").
pub(crate) fn title(record: &DeploymentRecord) -> String {
    match record.kind {
        ReleaseKind::Deploy => format!(
            "*{}* {} to {}",
            record.service, record.version, record.environment
        ),
        ReleaseKind::Rollback => format!(
            "*{}* rollback to {} in {}",
            record.service, record.version, record.environment
        ),
    }
}

fn headline(record: &DeploymentRecord, snapshot: Option<&ExecutionSnapshot>) -> (String, Tone) {
    let title = title(record);
    let wait_step = record.approval.as_ref().map(|w| w.key.as_str());
    match record.stage {
        Stage::Requested => (format!("{title}: requested"), Tone::Progress),
        Stage::AwaitingApproval if wait_step == Some(BEFORE_START) => (
            format!("{title}: waiting for approval before it starts"),
            Tone::Attention,
        ),
        Stage::AwaitingApproval => (
            format!(
                "{title}: waiting for approval at step {}",
                wait_step.unwrap_or("?")
            ),
            Tone::Attention,
        ),
        Stage::Starting => (format!("{title}: starting"), Tone::Progress),
        Stage::Running => {
            let current = snapshot.and_then(|s| {
                s.steps
                    .iter()
                    .position(|step| {
                        matches!(step.status, StepStatus::Running | StepStatus::Waiting)
                    })
                    .map(|i| (i + 1, s.steps.len(), s.steps[i].name.clone()))
            });
            match current {
                Some((n, of, name)) => (
                    format!("{title}: running step {n} of {of} ({name})"),
                    Tone::Progress,
                ),
                None => (format!("{title}: running"), Tone::Progress),
            }
        }
        Stage::Succeeded => (format!("{title}: succeeded"), Tone::Success),
        Stage::Failed => (format!("{title}: failed"), Tone::Failure),
        Stage::Rejected => (format!("{title}: rejected"), Tone::Failure),
        Stage::Cancelled => (format!("{title}: cancelled"), Tone::Failure),
        Stage::TimedOut => (format!("{title}: timed out"), Tone::Failure),
    }
}

/// The key of the approval wait a `before_start` service opens.
pub(crate) const BEFORE_START: &str = "before_start";

fn step_state(status: &StepStatus) -> StepState {
    match status {
        StepStatus::Pending => StepState::Pending,
        StepStatus::Running | StepStatus::Unknown(_) => StepState::Running,
        StepStatus::Waiting => StepState::WaitingForApproval,
        StepStatus::Succeeded => StepState::Done,
        StepStatus::Failed | StepStatus::TimedOut => StepState::Failed,
        StepStatus::Cancelled | StepStatus::Skipped => StepState::Skipped,
    }
}

fn with_links(mut message: Message, record: &DeploymentRecord, links: &Links) -> Message {
    if let Some(url) = &links.release {
        message = message.with_link(format!("Release {}", record.version), url.clone());
    }
    if let Some(url) = &links.execution {
        message = message.with_link("Execution", url.clone());
    }
    message
}

fn base_fields(mut message: Message, record: &DeploymentRecord) -> Message {
    message = message.with_field("Requested by", mention(&record.requester));
    if let Some(ticket) = &record.ticket {
        message = message.with_field("Ticket", ticket.clone());
    }
    if !record.approved_by.is_empty() {
        message = message.with_field("Approved by", mentions(&record.approved_by));
    }
    message = message.with_field("Release ID", record.id.to_string());
    if let Some(execution) = &record.execution {
        message = message.with_field("Execution", execution.to_string());
    }
    message
}

/// The one status message of a release, updated in place.
pub(crate) fn status_message(
    record: &DeploymentRecord,
    snapshot: Option<&ExecutionSnapshot>,
    links: &Links,
) -> Message {
    let (text, tone) = headline(record, snapshot);
    let mut message = base_fields(Message::text(text).with_tone(tone), record);
    if let Some(snapshot) = snapshot {
        message.steps = snapshot
            .steps
            .iter()
            .map(|step| StepLine {
                name: step.name.clone(),
                state: step_state(&step.status),
                note: step.failure_message.clone(),
            })
            .collect();
    }
    if let Some(failure) = &record.failure {
        message.detail = Some(failure.clone());
    }
    with_links(message, record, links)
}

/// The summary posted in the thread when a release ends.
pub(crate) fn summary(record: &DeploymentRecord, links: &Links, now: DateTime<Utc>) -> Message {
    let title = title(record);
    let took = (record.ended_at.unwrap_or(now) - record.requested_at)
        .to_std()
        .unwrap_or_default();
    let decided_by = record
        .approval
        .as_ref()
        .and_then(|w| w.rejection.as_ref())
        .and_then(|r| r.by.as_ref().map(mention));
    let (text, tone) = match record.stage {
        Stage::Succeeded => (
            format!("{title} succeeded in {}.", format_duration(took)),
            Tone::Success,
        ),
        Stage::Failed => (
            format!("{title} failed after {}.", format_duration(took)),
            Tone::Failure,
        ),
        Stage::Rejected => (
            match decided_by {
                Some(by) => format!("{title} was rejected by {by}."),
                None => format!("{title} was rejected."),
            },
            Tone::Failure,
        ),
        Stage::Cancelled => (
            match &record.cancelled_by {
                Some(by) => format!("{title} was cancelled by {}.", mention(by)),
                None => format!("{title} was cancelled."),
            },
            Tone::Failure,
        ),
        Stage::TimedOut => (format!("{title} timed out."), Tone::Failure),
        _ => (format!("{title}: {}.", record.stage.as_str()), Tone::Info),
    };
    let mut message = base_fields(Message::text(text).with_tone(tone), record)
        .with_field("Duration", format_duration(took));
    if let Some(failure) = &record.failure {
        message.detail = Some(failure.clone());
    }
    with_links(message, record, links)
}

/// The approval request, with buttons while undecided and the decision
/// once made.
pub(crate) fn approval_request(
    record: &DeploymentRecord,
    wait: &ApprovalState,
    approvers: &[Principal],
    required: u32,
    deadline: DateTime<Utc>,
) -> Message {
    let title = title(record);
    let approved = wait.approvers();
    let count = format!("{} of {required}", approved.len());
    if let Some(outside) = &wait.decided_outside {
        return Message::text(format!("{title}: decided outside chat by {outside}."))
            .with_tone(Tone::Info)
            .with_field("Approvals in chat", count);
    }
    match (wait.decision, &wait.rejection) {
        (Some(Signal::Reject), Some(rejection)) => {
            let by = rejection.by.as_ref().map_or_else(
                || "nobody decided in time".to_owned(),
                |by| format!("rejected by {}", mention(by)),
            );
            let mut message = Message::text(format!("{title}: {by}.")).with_tone(Tone::Failure);
            if let Some(reason) = &rejection.reason {
                message = message.with_field("Reason", reason.clone());
            }
            return message;
        }
        (Some(Signal::Approve), _) => {
            return Message::text(format!("{title}: approved by {}.", mentions(&approved)))
                .with_tone(Tone::Success)
                .with_field("Approvals", count);
        }
        _ => {}
    }
    if record.stage.is_terminal() {
        return Message::text(format!(
            "{title}: no decision needed any more, the release {}.",
            match record.stage {
                Stage::Cancelled => "was cancelled",
                Stage::Failed => "failed",
                _ => "has ended",
            }
        ))
        .with_tone(Tone::Info)
        .with_field("Approvals", count);
    }
    let who = approvers
        .iter()
        .map(mention_principal)
        .collect::<Vec<_>>()
        .join(" ");
    let at = if wait.key == BEFORE_START {
        "before it starts".to_owned()
    } else {
        format!("at step {}", wait.key)
    };
    let mut message = Message::text(format!(
        "{who} approval needed {at}: {title}, requested by {}.",
        mention(&record.requester)
    ))
    .with_tone(Tone::Attention)
    .with_field("Approvals", count)
    .with_field("Decide by", format_time(deadline))
    .with_field("Release ID", record.id.to_string());
    if !approved.is_empty() {
        message = message.with_field("Approved by", mentions(&approved));
    }
    let question = format!("Approve {} to {}?", record.version, record.environment);
    message
        .with_button(Button {
            action: ButtonAction::Approve,
            deployment: record.id.clone(),
            label: "Approve".into(),
            style: ButtonStyle::Primary,
            confirm: Some(Confirm {
                title: "Approve release".into(),
                text: format!("{question} ({})", record.service),
                confirm: "Approve".into(),
                deny: "Not yet".into(),
            }),
        })
        .with_button(Button {
            action: ButtonAction::Reject,
            deployment: record.id.clone(),
            label: "Reject".into(),
            style: ButtonStyle::Danger,
            confirm: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(252)), "4m 12s");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 120)),
            "3h 2m"
        );
    }
}
