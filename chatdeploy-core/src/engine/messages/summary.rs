//! The summary posted in the thread when a release ends.

use chrono::{DateTime, Utc};

use crate::chat::{Message, Text, Tone};
use crate::state::{DeploymentRecord, Stage, WaitEnd};

use super::status::{base_fields, with_links};
use super::{Links, actor, format_duration, title};

/// The summary posted in the thread when a release ends.
pub(crate) fn summary(record: &DeploymentRecord, links: &Links, now: DateTime<Utc>) -> Message {
    let title = title(record);
    let took = (record.ended_at.unwrap_or(now) - record.requested_at)
        .to_std()
        .unwrap_or_default();
    let end = record.approval.as_ref().and_then(|w| w.ended.as_ref());
    let (rest, tone) = match record.stage {
        Stage::Succeeded => (
            Text::plain(format!(" succeeded in {}.", format_duration(took))),
            Tone::Success,
        ),
        Stage::Failed => (
            Text::plain(format!(" failed after {}.", format_duration(took))),
            Tone::Failure,
        ),
        Stage::Rejected => (
            match record.ended_by() {
                Some(by) => Text::plain(" was rejected by ").then(actor(&by)).and("."),
                None => Text::plain(" was rejected."),
            },
            Tone::Failure,
        ),
        Stage::Cancelled => (
            match (&record.cancelled_by, end) {
                (_, Some(WaitEnd::Cancelled { by: None })) | (None, _) => Text::plain(
                    " was stopped outside chat (AWS console or CLI; AWS does not say by whom).",
                ),
                (Some(by), _) => Text::plain(" was cancelled by ").user(by.clone()).and("."),
            },
            Tone::Failure,
        ),
        Stage::TimedOut => (
            Text::plain(match end {
                Some(WaitEnd::TimedOut { in_backend: true }) => {
                    " timed out: its approval step timed out in AWS."
                }
                Some(WaitEnd::TimedOut { in_backend: false }) => {
                    " timed out: nobody approved it in time."
                }
                _ => " timed out.",
            }),
            Tone::Failure,
        ),
        _ => (
            Text::plain(format!(": {}.", record.stage.as_str())),
            Tone::Info,
        ),
    };
    let mut text = title.then(rest);
    if record.bypassed.is_some() {
        text = Text::new()
            .emphasis("APPROVAL BYPASSED:")
            .and(" ")
            .then(text)
            .and(" No approval was given for it.");
    }
    let mut message = base_fields(Message::text(text).with_tone(tone), record)
        .with_field("Duration", Text::plain(format_duration(took)));
    if let Some(WaitEnd::Approved { outside, .. }) = end
        && !outside.is_empty()
    {
        message = message.with_field("Approved in AWS by", Text::from_user(outside.join(", ")));
    }
    if matches!(
        record.stage,
        Stage::Rejected | Stage::TimedOut | Stage::Cancelled
    ) && let Some(reason) = record.end_reason()
    {
        message = message.with_field("Reason", Text::from_user(reason));
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
