//! From an inbound event to the handler of its command: deduplicate, parse,
//! authorise, dispatch.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEvent};
use crate::backend::Signal;
use crate::catalog::Service;
use crate::chat::{ButtonAction, Message, Tone};
use crate::command::{Command, parse};
use crate::ids::{DeploymentId, EventId, Principal};
use crate::policy::is_member;
use crate::state::StateError;

use super::commands::{self, ReleaseAsk};
use super::event::{ChatEvent, ChatEventKind, Handled};
use super::{Shared, decide, locks, queries};

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

pub(crate) async fn handle(shared: &Arc<Shared>, event: ChatEvent) -> Handled {
    let at = shared.clock.now();
    let expires = super::render::add_duration(at, shared.dedupe_ttl);
    match shared.state.remember_event(&event.id, expires).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(event = %event.id, "redelivered event dropped");
            return Handled::Duplicate;
        }
        Err(error) => {
            tracing::error!(%error, event = %event.id, "cannot record the event; not acting on it");
            // Boxed: the rare path stays out of every event's future.
            Box::pin(shared.tell(
                &event.reply_to(),
                &event.user,
                Message::text(STATE_UNAVAILABLE),
            ))
            .await;
            return Handled::Refused;
        }
    }
    match &event.kind {
        // Boxed: see `queries::answer` (per-event allocations under 1 KiB).
        ChatEventKind::Command { text } => Box::pin(command(shared, &event, text, at)).await,
        ChatEventKind::Button { action, deployment } => {
            let request = Request {
                event: &event,
                command: None,
                at,
            };
            let decision = match action {
                ButtonAction::Approve => Signal::Approve,
                ButtonAction::Reject => Signal::Reject,
            };
            Box::pin(decide::decide(
                shared,
                &request,
                Target::Deployment(deployment.clone()),
                decision,
                None,
            ))
            .await
        }
    }
}

/// What an `approve`/`reject`/`cancel` names.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A release ID.
    Deployment(DeploymentId),
    /// A service name or alias, as typed.
    Service(String),
}

impl Target {
    pub(crate) fn from_text(text: &str) -> Self {
        if super::ids::looks_like_deployment_id(text) {
            Self::Deployment(DeploymentId::new(text))
        } else {
            Self::Service(text.to_owned())
        }
    }
}

async fn command(
    shared: &Arc<Shared>,
    event: &ChatEvent,
    text: &str,
    at: DateTime<Utc>,
) -> Handled {
    let command = match parse(text) {
        Ok(command) => command,
        Err(error) => {
            let request = Request {
                event,
                command: None,
                at,
            };
            return refuse(shared, &request, error.to_string(), None).await;
        }
    };
    let request = Request {
        event,
        command: Some(command.to_string()),
        at,
    };
    if command.is_mutating() && !shared.catalog.chat().is_deploy_channel(&event.channel) {
        let channels: Vec<String> = shared
            .catalog
            .chat()
            .deploy_channels()
            .iter()
            .map(|c| format!("<#{c}>"))
            .collect();
        let sentence = format!(
            "`{}` changes releases, so it only works in {}; type it there.",
            command.verb(),
            channels.join(" or ")
        );
        return refuse(shared, &request, sentence, None).await;
    }
    match command {
        Command::Deploy {
            service,
            version,
            environment,
            ticket,
        } => {
            let ask = ReleaseAsk::Deploy {
                version,
                environment,
                ticket,
            };
            Box::pin(commands::release(shared, &request, &service, ask)).await
        }
        Command::Rollback { service, version } => {
            Box::pin(commands::release(
                shared,
                &request,
                &service,
                ReleaseAsk::Rollback { version },
            ))
            .await
        }
        Command::Approve { target } => {
            Box::pin(decide::decide(
                shared,
                &request,
                Target::from_text(&target),
                Signal::Approve,
                None,
            ))
            .await
        }
        Command::Reject { target, reason } => {
            Box::pin(decide::decide(
                shared,
                &request,
                Target::from_text(&target),
                Signal::Reject,
                reason,
            ))
            .await
        }
        Command::Cancel { target } => {
            Box::pin(decide::cancel(shared, &request, Target::from_text(&target))).await
        }
        Command::Lock { service, reason } => {
            Box::pin(locks::lock(shared, &request, &service, reason)).await
        }
        Command::Unlock { service } => Box::pin(locks::unlock(shared, &request, &service)).await,
        other => Box::pin(queries::answer(shared, &request, &other)).await,
    }
}

/// Refuses: tells the person why (ephemeral) and audits the denial. The
/// denial's audit failing does not change the answer: nothing was done.
///
/// Boxed: refusals are the rare path, and inlined into every caller's
/// future they would make the common path's futures ~1 KB larger.
pub(crate) fn refuse<'a>(
    shared: &'a Shared,
    request: &'a Request<'_>,
    sentence: String,
    service: Option<&'a str>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Handled> + Send + 'a>> {
    Box::pin(async move {
        let mut record = request
            .audit(AuditAction::Denied)
            .with_reason(sentence.clone());
        record.service = service.map(str::to_owned);
        let _ = shared.audit(&record).await;
        shared
            .tell(
                &request.event.reply_to(),
                &request.event.user,
                Message::text(sentence).with_tone(Tone::Failure),
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

/// Whether the person is one of `principals`. An unreadable user group
/// counts as "no" (fail closed), with a log line.
pub(crate) async fn member_of(
    shared: &Shared,
    request: &Request<'_>,
    principals: &[Principal],
) -> bool {
    match is_member(&*shared.chat, principals, &request.event.user).await {
        Ok(member) => member,
        Err((group, error)) => {
            tracing::warn!(%group, %error, "user group unreadable; treating as not a member");
            false
        }
    }
}

/// Who may run a command on a service.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// Its deployers (`deploy`, `rollback`).
    Deployer,
    /// Its deployers or approvers, doing the named thing (`lock`, `unlock`).
    DeployerOrApprover(&'static str),
}

/// Looks the service up and checks the person's role on it, refusing (with
/// the did-you-mean, or the reason) otherwise.
pub(crate) async fn authorised_service<'s>(
    shared: &'s Shared,
    request: &Request<'_>,
    name: &str,
    role: Role,
) -> Result<&'s Service, Handled> {
    let service = service(shared, request, name).await?;
    let allowed = match role {
        Role::Deployer => is_deployer(shared, request, service).await,
        Role::DeployerOrApprover(_) => is_deployer_or_approver(shared, request, service).await,
    };
    if allowed {
        return Ok(service);
    }
    let sentence = match role {
        Role::Deployer => format!(
            "You are not a deployer of {}; ask the platform team to add you to `deployers`.",
            service.name()
        ),
        Role::DeployerOrApprover(doing) => format!(
            "Only deployers and approvers of {} can {doing} it.",
            service.name()
        ),
    };
    Err(refuse(shared, request, sentence, Some(service.name())).await)
}

/// Whether the person may deploy `service`: its deployers, or anyone (in a
/// deploy channel) when no deployers are configured.
pub(crate) async fn is_deployer(shared: &Shared, request: &Request<'_>, service: &Service) -> bool {
    match service.deployers() {
        None => true,
        Some(deployers) => member_of(shared, request, deployers).await,
    }
}

/// Whether the person is a deployer or an approver of `service`.
pub(crate) async fn is_deployer_or_approver(
    shared: &Shared,
    request: &Request<'_>,
    service: &Service,
) -> bool {
    is_deployer(shared, request, service).await
        || member_of(shared, request, service.approvers()).await
}
