//! The one status message of a release, updated in place; and the parts
//! the summary shares with it.

use crate::backend::{ExecutionSnapshot, StepStatus};
use crate::chat::{Message, StepLine, StepState, Text, Tone};
use crate::state::{DeploymentRecord, Stage};

use super::{BEFORE_START, Links, mentions, title};

fn headline(record: &DeploymentRecord, snapshot: Option<&ExecutionSnapshot>) -> (Text, Tone) {
    let title = title(record);
    let wait = record.approval.as_ref();
    let wait_step = wait.map_or("?", |w| w.key.as_str());
    let (rest, tone) = match record.stage {
        Stage::Requested => (Text::plain(": requested"), Tone::Progress),
        Stage::AwaitingApproval if wait_step == BEFORE_START => (
            Text::plain(": waiting for approval before it starts"),
            Tone::Attention,
        ),
        Stage::AwaitingApproval => {
            let refused = wait.is_some_and(|w| w.refused.is_some());
            let mut text = Text::plain(": waiting for approval at step ").user_text(wait_step);
            if refused {
                text = text.and(" (AWS refused the bot's signal)");
            }
            (
                text,
                if refused {
                    Tone::Failure
                } else {
                    Tone::Attention
                },
            )
        }
        Stage::Starting => (Text::plain(": starting"), Tone::Progress),
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
                    Text::plain(format!(": running step {n} of {of} ("))
                        .user_text(name)
                        .and(")"),
                    Tone::Progress,
                ),
                None => (Text::plain(": running"), Tone::Progress),
            }
        }
        Stage::Succeeded => (Text::plain(": succeeded"), Tone::Success),
        Stage::Failed => (Text::plain(": failed"), Tone::Failure),
        Stage::Rejected => (Text::plain(": rejected"), Tone::Failure),
        Stage::Cancelled => (Text::plain(": cancelled"), Tone::Failure),
        Stage::TimedOut => (Text::plain(": timed out"), Tone::Failure),
    };
    (title.then(rest), tone)
}

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

/// The links to the record: the release tag, the execution.
pub(super) fn with_links(
    mut message: Message,
    record: &DeploymentRecord,
    links: &Links,
) -> Message {
    if let Some(url) = &links.release {
        message = message.with_link(format!("Release {}", record.version), url.clone());
    }
    if let Some(url) = &links.execution {
        message = message.with_link("Execution", url.clone());
    }
    message
}

/// Who asked, the ticket, who approved (as the backend recorded it), IDs.
pub(super) fn base_fields(mut message: Message, record: &DeploymentRecord) -> Message {
    message = message.with_field("Requested by", Text::new().user(record.requester.clone()));
    if let Some(ticket) = &record.ticket {
        message = message.with_field("Ticket", Text::from_user(ticket.clone()));
    }
    if !record.approved_by.is_empty() {
        message = message.with_field("Approved by", mentions(&record.approved_by));
    }
    message = message.with_field("Release ID", Text::new().code(record.id.to_string()));
    if let Some(execution) = &record.execution {
        message = message.with_field("Execution", Text::new().code(execution.to_string()));
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
        message = message.with_field("Problem", Text::plain(problem.message.clone()));
    }
    if let Some(why) = &record.bypassed {
        message = message
            .with_tone(Tone::Failure)
            .with_field("Approval bypassed", Text::plain(why.clone()));
    }
    if let Some(failure) = &record.failure {
        message.detail = Some(Text::from_user(failure.clone()));
    }
    with_links(message, record, links)
}
