//! What every handler of a command or click shares: the request being
//! handled, its audit records, refusals (answered to the person, audited),
//! the fail-closed audit of a mutating action, and the access check.

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEvent};
use crate::catalog::Service;
use crate::chat::{ChatEvent, Handled, Message, Text, Tone};
use crate::ids::EventId;
use crate::policy::{Action, ActionRequest, ReleaseFacts, Verdict};
use crate::state::StateError;

use super::Shared;

/// What the handlers share about the event being handled.
pub(crate) struct Request<'a> {
    pub(crate) event: &'a ChatEvent,
    /// The canonical command text, for audit records.
    pub(crate) command: Option<String>,
    /// When the engine took the event up (the time of its audit records).
    pub(crate) at: DateTime<Utc>,
}

/// The ID of the audit record of `action` caused by the inbound event
/// `source`: the same on every replay, so sinks drop the repeat.
pub(crate) fn request_audit_id(source: &EventId, action: AuditAction) -> String {
    let (source, action) = (source.as_str(), action.as_str());
    let mut id = String::with_capacity(source.len() + 1 + action.len());
    id.push_str(source);
    id.push(':');
    id.push_str(action);
    id
}

impl Request<'_> {
    /// An audit record caused by this request: deterministic ID from the
    /// source event, actor, command, channel and thread filled in.
    pub(crate) fn audit(&self, action: AuditAction) -> AuditEvent {
        let event = self.event;
        let id = request_audit_id(&event.id, action);
        let mut record = AuditEvent::identified_at(id, self.at, action, Some(event.user.clone()));
        record.command = self.command.clone();
        record.channel = Some(event.channel.clone());
        record.thread = event.thread.clone().or_else(|| event.message.clone());
        record.source_event = Some(event.id.clone());
        record
    }
}

/// Refuses: tells the person why (ephemeral) and audits the denial. The
/// denial's audit failing does not change the answer: nothing was done.
///
/// The sentence is chatdeploy's (it may quote what the person typed; a
/// surface renders it without markup of the person's).
///
/// Boxed: refusals are the rare path, and inlined into every caller's
/// future they would make the common path's futures ~1 KB larger.
pub(crate) fn refuse<'a>(
    shared: &'a Shared,
    request: &'a Request<'_>,
    sentence: String,
    service: Option<&'a str>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Handled> + Send + 'a>> {
    refuse_with(shared, request, Text::plain(sentence), service)
}

/// [`refuse`] with structured text (mentions, channel references).
pub(crate) fn refuse_with<'a>(
    shared: &'a Shared,
    request: &'a Request<'_>,
    text: Text,
    service: Option<&'a str>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Handled> + Send + 'a>> {
    Box::pin(async move {
        let mut record = request
            .audit(AuditAction::Denied)
            .with_reason(text.to_string());
        record.service = service.map(str::to_owned);
        let _ = shared.audit(&record).await;
        shared
            .tell(
                &request.event.reply_to(),
                &request.event.user,
                Message::text(text).with_tone(Tone::Failure),
            )
            .await;
        Handled::Refused
    })
}

/// What the person is told when the state store fails.
pub(crate) const STATE_UNAVAILABLE: &str =
    "chatdeploy cannot reach its state store right now, so nothing was done; try again shortly.";

/// Refuses because the state store failed to `what` (logged with `error`):
/// nothing was done, and the person is told to try again.
pub(crate) fn unavailable<'a>(
    shared: &'a Shared,
    request: &'a Request<'_>,
    service: Option<&'a str>,
    what: &str,
    error: &StateError,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Handled> + Send + 'a>> {
    tracing::error!(%error, "cannot {what}");
    refuse(shared, request, STATE_UNAVAILABLE.to_owned(), service)
}

/// Writes the audit record of a mutating action *before* it happens. When
/// it cannot be written the person is told and the action must not happen
/// (fail closed): the caller returns the `Err`.
pub(crate) async fn audit_first(
    shared: &Shared,
    request: &Request<'_>,
    record: AuditEvent,
) -> Result<(), Handled> {
    match shared.audit(&record).await {
        Ok(()) => Ok(()),
        Err(error) => {
            shared
                .tell(
                    &request.event.reply_to(),
                    &request.event.user,
                    Message::text(error.user_message()),
                )
                .await;
            Err(Handled::Refused)
        }
    }
}

/// Looks a service up, refusing with the did-you-mean when unknown.
pub(crate) async fn service<'s>(
    shared: &'s Shared,
    request: &Request<'_>,
    name: &str,
) -> Result<&'s Service, Handled> {
    match shared.catalog.service(name) {
        Ok(service) => Ok(service),
        Err(error) => Err(refuse(shared, request, error.to_string(), None).await),
    }
}

/// Asks the access policy whether the person may do `action` on
/// `service` (and the release `release`); refuses with the policy's reason
/// otherwise. A policy that cannot decide refuses too (fail closed).
pub(crate) async fn authorise(
    shared: &Shared,
    request: &Request<'_>,
    action: Action,
    service: &str,
    release: Option<ReleaseFacts>,
) -> Result<(), Handled> {
    let ask = ActionRequest {
        action,
        user: request.event.user.clone(),
        service: service.to_owned(),
        environment: None,
        release,
    };
    match shared.access.decide(&ask).await {
        Ok(Verdict::Allowed) => Ok(()),
        Ok(Verdict::Denied(denial)) => {
            Err(refuse(shared, request, denial.user_message(), Some(service)).await)
        }
        Err(error) => {
            tracing::warn!(%error, "the access policy could not decide; refusing");
            let sentence = "chatdeploy could not check who may do that right now (a user group \
                            could not be read); try again shortly."
                .to_owned();
            Err(refuse(shared, request, sentence, Some(service)).await)
        }
    }
}

/// Looks the service up and checks that the person may do `action` on it.
pub(crate) async fn authorised_service<'s>(
    shared: &'s Shared,
    request: &Request<'_>,
    name: &str,
    action: Action,
) -> Result<&'s Service, Handled> {
    let service = service(shared, request, name).await?;
    authorise(shared, request, action, service.name(), None).await?;
    Ok(service)
}
