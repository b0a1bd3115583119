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
use crate::state::{Actor, ApprovalState, DeploymentRecord, ReleaseKind, Stage, WaitEnd};

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

/// `at + duration`, saturating at the latest time chrono can hold rather
/// than overflowing (a configured duration can be large).
pub(crate) fn add_duration(at: DateTime<Utc>, duration: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
        Stage::AwaitingApproval
            if record
                .approval
                .as_ref()
                .is_some_and(|w| w.refused.is_some()) =>
        {
            (
                format!(
                    "{title}: waiting for approval at step {} (AWS refused the bot's signal)",
                    wait_step.unwrap_or("?")
                ),
                Tone::Failure,
            )
        }
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
    if let Some(problem) = &record.watch_problem {
        message = message.with_field("Problem", problem.message.clone());
    }
    if let Some(why) = &record.bypassed {
        message = message
            .with_tone(Tone::Failure)
            .with_field("Approval bypassed", why.clone());
    }
    if let Some(failure) = &record.failure {
        message.detail = Some(failure.clone());
    }
    with_links(message, record, links)
}

/// An actor as people read it: a chat mention, or the backend's name for
/// someone outside chat.
pub(crate) fn actor(actor: &Actor) -> String {
    match actor {
        Actor::User(user) => mention(user),
        Actor::Backend(principal) => format!("{principal} (outside chat)"),
    }
}

/// How an approval wait ended, as a clause: "approved by @bob".
pub(crate) fn wait_end(wait: &ApprovalState, end: &WaitEnd) -> String {
    match end {
        WaitEnd::Approved { in_chat, outside } => {
            let mut by: Vec<String> = in_chat.iter().map(mention).collect();
            by.extend(outside.iter().map(|p| format!("{p} in the AWS console")));
            if by.is_empty() {
                "approved".to_owned()
            } else {
                format!("approved by {}", by.join(", "))
            }
        }
        WaitEnd::Rejected {
            by: Actor::User(user),
            ..
        } => format!("rejected by {}", mention(user)),
        WaitEnd::Rejected {
            by: Actor::Backend(principal),
            ..
        } => format!("rejected in the AWS console by {principal}"),
        WaitEnd::TimedOut { in_backend: true } => format!(
            "not decided: approval step {} timed out in AWS before enough approvals",
            wait.key
        ),
        WaitEnd::TimedOut { in_backend: false } => "nobody decided in time".to_owned(),
        WaitEnd::Cancelled { by: Some(user) } => {
            format!(
                "no decision needed any more: cancelled by {}",
                mention(user)
            )
        }
        WaitEnd::Cancelled { by: None } => "no decision needed any more: the execution was \
             stopped outside chat (AWS console or CLI; AWS does not say by whom)"
            .to_owned(),
        WaitEnd::Failed { .. } => {
            "no decision needed any more: the execution failed while waiting".to_owned()
        }
    }
}

/// The summary posted in the thread when a release ends.
pub(crate) fn summary(record: &DeploymentRecord, links: &Links, now: DateTime<Utc>) -> Message {
    let title = title(record);
    let took = (record.ended_at.unwrap_or(now) - record.requested_at)
        .to_std()
        .unwrap_or_default();
    let end = record.approval.as_ref().and_then(|w| w.ended.as_ref());
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
            match record.ended_by() {
                Some(by) => format!("{title} was rejected by {}.", actor(&by)),
                None => format!("{title} was rejected."),
            },
            Tone::Failure,
        ),
        Stage::Cancelled => (
            match (&record.cancelled_by, end) {
                (_, Some(WaitEnd::Cancelled { by: None })) | (None, _) => format!(
                    "{title} was stopped outside chat (AWS console or CLI; AWS does not say by \
                     whom)."
                ),
                (Some(by), _) => format!("{title} was cancelled by {}.", mention(by)),
            },
            Tone::Failure,
        ),
        Stage::TimedOut => (
            match end {
                Some(WaitEnd::TimedOut { in_backend: true }) => {
                    format!("{title} timed out: its approval step timed out in AWS.")
                }
                Some(WaitEnd::TimedOut { in_backend: false }) => {
                    format!("{title} timed out: nobody approved it in time.")
                }
                _ => format!("{title} timed out."),
            },
            Tone::Failure,
        ),
        _ => (format!("{title}: {}.", record.stage.as_str()), Tone::Info),
    };
    let text = match &record.bypassed {
        Some(_) => format!("APPROVAL BYPASSED: {text} No approval was given for it."),
        None => text,
    };
    let mut message = base_fields(Message::text(text).with_tone(tone), record)
        .with_field("Duration", format_duration(took));
    if let Some(WaitEnd::Approved { outside, .. }) = end
        && !outside.is_empty()
    {
        message = message.with_field("Approved in AWS by", outside.join(", "));
    }
    if matches!(
        record.stage,
        Stage::Rejected | Stage::TimedOut | Stage::Cancelled
    ) && let Some(reason) = record.end_reason()
    {
        message = message.with_field("Reason", reason);
    }
    if let Some(why) = &record.bypassed {
        message = message
            .with_tone(Tone::Failure)
            .with_field("Approval bypassed", why.clone());
    }
    if let Some(failure) = &record.failure {
        message.detail = Some(failure.clone());
    }
    with_links(message, record, links)
}

/// The approval request, with buttons while undecided and the decision
/// once the backend recorded it.
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
    if let Some(end) = &wait.ended {
        let tone = match end {
            WaitEnd::Approved { .. } => Tone::Success,
            WaitEnd::Rejected { .. } | WaitEnd::TimedOut { .. } => Tone::Failure,
            _ => Tone::Info,
        };
        let mut message =
            Message::text(format!("{title}: {}.", wait_end(wait, end))).with_tone(tone);
        match end {
            WaitEnd::Rejected {
                reason: Some(reason),
                by,
            } => {
                let label = match by {
                    Actor::User(_) => "Reason",
                    Actor::Backend(_) => "Comment",
                };
                message = message.with_field(label, reason.clone());
            }
            WaitEnd::TimedOut { in_backend: false } => {
                if let Some(reason) = wait.rejection.as_ref().and_then(|r| r.reason.clone()) {
                    message = message.with_field("Reason", reason);
                }
            }
            WaitEnd::Failed { message: Some(why) } => {
                message = message.with_field("Failure", why.clone())
            }
            _ => {}
        }
        match end {
            WaitEnd::Approved { in_chat, .. } if !approved.is_empty() && in_chat.is_empty() => {
                message = message.with_field(
                    "Approved in chat, not delivered to AWS",
                    mentions(&approved),
                );
            }
            WaitEnd::Approved { .. } => {}
            _ if !approved.is_empty() => {
                message = message.with_field("Approved in chat", mentions(&approved));
            }
            _ => {}
        }
        return message.with_field("Approvals in chat", count);
    }
    if let Some(refusal) = &wait.refused {
        let (what, fix) = match wait.decision {
            Some(Signal::Reject) => (
                "the rejection",
                "chatdeploy stops the execution instead".to_owned(),
            ),
            _ => (
                "the approval",
                format!(
                    "the release still waits: approve in the AWS console, or it is stopped at {}",
                    format_time(deadline)
                ),
            ),
        };
        return Message::text(format!(
            "{title}: AWS refused {what} given in chat: {refusal}; {fix}."
        ))
        .with_tone(Tone::Failure)
        .with_field("Approved in chat", mentions(&approved))
        .with_field("Approvals in chat", count);
    }
    match (wait.decision, &wait.rejection) {
        (Some(Signal::Reject), Some(rejection)) => {
            let by = rejection.by.as_ref().map_or_else(
                || "nobody decided in time; rejecting".to_owned(),
                |by| format!("rejected by {}; telling AWS", mention(by)),
            );
            let mut message = Message::text(format!("{title}: {by}.")).with_tone(Tone::Failure);
            if let Some(reason) = &rejection.reason {
                message = message.with_field("Reason", reason.clone());
            }
            return message;
        }
        (Some(Signal::Approve), _) => {
            // Chat decided; the backend has not recorded it yet.
            return Message::text(format!(
                "{title}: approved in chat by {}; waiting for AWS to record it.",
                mentions(&approved)
            ))
            .with_tone(Tone::Progress)
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
    let question = format!("{} to {}", record.version, record.environment);
    message
        .with_button(Button {
            action: ButtonAction::Approve,
            deployment: record.id.clone(),
            label: "Approve".into(),
            style: ButtonStyle::Primary,
            confirm: Some(Confirm {
                title: "Approve release".into(),
                text: format!("Approve {question}? ({})", record.service),
                confirm: "Approve".into(),
                deny: "Not yet".into(),
            }),
        })
        .with_button(Button {
            action: ButtonAction::Reject,
            deployment: record.id.clone(),
            label: "Reject".into(),
            style: ButtonStyle::Danger,
            confirm: Some(Confirm {
                title: "Reject release".into(),
                text: format!(
                    "Reject {question}? ({}) The release stops; type `reject {} <reason>` to \
                     give a reason.",
                    record.service, record.id
                ),
                confirm: "Reject".into(),
                deny: "Cancel".into(),
            }),
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
