//! The approval request: buttons while undecided, then the decision as the
//! backend recorded it (or why there is none).

use chrono::{DateTime, Utc};

use crate::backend::Signal;
use crate::chat::{Button, ButtonAction, ButtonStyle, Confirm, Message, Text, Tone};
use crate::ids::Principal;
use crate::state::{Actor, ApprovalState, DeploymentRecord, Stage, WaitEnd};

use super::{BEFORE_START, format_time, mentions, principal, title, wait_end};

/// The request once the wait has ended.
fn decided(
    record: &DeploymentRecord,
    wait: &ApprovalState,
    end: &WaitEnd,
    count: String,
) -> Message {
    let approved = wait.approvers();
    let tone = match end {
        WaitEnd::Approved { .. } => Tone::Success,
        WaitEnd::Rejected { .. } | WaitEnd::TimedOut { .. } => Tone::Failure,
        _ => Tone::Info,
    };
    let text = title(record).and(": ").then(wait_end(wait, end)).and(".");
    let mut message = Message::text(text).with_tone(tone);
    match end {
        WaitEnd::Rejected {
            reason: Some(reason),
            by,
        } => {
            let label = match by {
                Actor::User(_) => "Reason",
                Actor::Backend(_) => "Comment",
            };
            message = message.with_field(label, Text::from_user(reason.clone()));
        }
        WaitEnd::TimedOut { in_backend: false } => {
            if let Some(reason) = wait.rejection.as_ref().and_then(|r| r.reason.clone()) {
                message = message.with_field("Reason", Text::from_user(reason));
            }
        }
        WaitEnd::Failed { message: Some(why) } => {
            message = message.with_field("Failure", Text::from_user(why.clone()));
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
    message.with_field("Approvals in chat", Text::plain(count))
}

/// The request while AWS refuses the bot's signal.
fn refused(
    record: &DeploymentRecord,
    wait: &ApprovalState,
    refusal: &str,
    deadline: DateTime<Utc>,
    count: String,
) -> Message {
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
    let text = title(record)
        .and(format!(": AWS refused {what} given in chat: "))
        .user_text(refusal)
        .and(format!("; {fix}."));
    Message::text(text)
        .with_tone(Tone::Failure)
        .with_field("Approved in chat", mentions(&wait.approvers()))
        .with_field("Approvals in chat", Text::plain(count))
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
    let approved = wait.approvers();
    let count = format!("{} of {required}", approved.len());
    if let Some(end) = &wait.ended {
        return decided(record, wait, end, count);
    }
    if let Some(refusal) = &wait.refused {
        return refused(record, wait, refusal, deadline, count);
    }
    match (wait.decision, &wait.rejection) {
        (Some(Signal::Reject), Some(rejection)) => {
            let by = match &rejection.by {
                Some(by) => Text::plain("rejected by ")
                    .user(by.clone())
                    .and("; telling AWS"),
                None => Text::plain("nobody decided in time; rejecting"),
            };
            let mut message =
                Message::text(title(record).and(": ").then(by).and(".")).with_tone(Tone::Failure);
            if let Some(reason) = &rejection.reason {
                message = message.with_field("Reason", Text::from_user(reason.clone()));
            }
            return message;
        }
        (Some(Signal::Approve), _) => {
            // Chat decided; the backend has not recorded it yet.
            let text = title(record)
                .and(": approved in chat by ")
                .then(mentions(&approved))
                .and("; waiting for AWS to record it.");
            return Message::text(text)
                .with_tone(Tone::Progress)
                .with_field("Approvals", Text::plain(count));
        }
        _ => {}
    }
    if record.stage.is_terminal() {
        let text = title(record).and(format!(
            ": no decision needed any more, the release {}.",
            match record.stage {
                Stage::Cancelled => "was cancelled",
                Stage::Failed => "failed",
                _ => "has ended",
            }
        ));
        return Message::text(text)
            .with_tone(Tone::Info)
            .with_field("Approvals", Text::plain(count));
    }
    open(record, wait, approvers, count, deadline)
}

/// The request while it waits: who is asked, the count, the deadline, the
/// buttons.
fn open(
    record: &DeploymentRecord,
    wait: &ApprovalState,
    approvers: &[Principal],
    count: String,
    deadline: DateTime<Utc>,
) -> Message {
    let approved = wait.approvers();
    let who = Text::new().join(approvers.iter().map(principal), " ");
    let at = if wait.key == BEFORE_START {
        Text::plain("before it starts")
    } else {
        Text::plain("at step ").user_text(wait.key.clone())
    };
    let text = who
        .and(" approval needed ")
        .then(at)
        .and(": ")
        .then(title(record))
        .and(", requested by ")
        .user(record.requester.clone())
        .and(".");
    let mut message = Message::text(text)
        .with_tone(Tone::Attention)
        .with_field("Approvals", Text::plain(count))
        .with_field("Decide by", Text::plain(format_time(deadline)))
        .with_field("Release ID", Text::new().code(record.id.to_string()));
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
