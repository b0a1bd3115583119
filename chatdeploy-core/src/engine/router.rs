//! From an inbound event to the handler of its command: deduplicate, parse,
//! check the channel, dispatch. Handlers authorise with the access policy
//! themselves (see `request`).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::Signal;
use crate::chat::{ButtonAction, ChatEvent, ChatEventKind, Handled, Message, Text};
use crate::command::{Command, parse};

use super::decisions::{self, Target};
use super::releases::{self, ReleaseAsk};
use super::request::{Request, STATE_UNAVAILABLE, refuse};
use super::{Shared, locks, queries};

pub(crate) async fn handle(shared: &Arc<Shared>, event: ChatEvent) -> Handled {
    let at = shared.clock.now();
    let expires = super::messages::add_duration(at, shared.dedupe_ttl);
    match shared.state.remember_event(&event.id, expires).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(event = %event.id, "redelivered event dropped");
            crate::metrics::event_deduplicated(crate::metrics::DedupeLayer::StateStore);
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
            Box::pin(decisions::decide(
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
        return refuse_outside_deploy_channels(shared, &request, &command).await;
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
            Box::pin(releases::release(shared, &request, &service, ask)).await
        }
        Command::Rollback { service, version } => {
            Box::pin(releases::release(
                shared,
                &request,
                &service,
                ReleaseAsk::Rollback { version },
            ))
            .await
        }
        Command::Approve { target } => {
            Box::pin(decisions::decide(
                shared,
                &request,
                Target::from_text(&target),
                Signal::Approve,
                None,
            ))
            .await
        }
        Command::Reject { target, reason } => {
            Box::pin(decisions::decide(
                shared,
                &request,
                Target::from_text(&target),
                Signal::Reject,
                reason,
            ))
            .await
        }
        Command::Cancel { target } => {
            Box::pin(decisions::cancel(
                shared,
                &request,
                Target::from_text(&target),
            ))
            .await
        }
        Command::Lock { service, reason } => {
            Box::pin(locks::lock(shared, &request, &service, reason)).await
        }
        Command::Unlock { service } => Box::pin(locks::unlock(shared, &request, &service)).await,
        other => Box::pin(queries::answer(shared, &request, &other)).await,
    }
}

/// Refuses a mutating command typed outside the deploy channels, naming
/// them (as channel references the surface renders).
async fn refuse_outside_deploy_channels(
    shared: &Shared,
    request: &Request<'_>,
    command: &Command,
) -> Handled {
    let channels = shared
        .catalog
        .chat()
        .deploy_channels()
        .iter()
        .map(|c| Text::new().channel(c.clone()));
    let text = Text::new()
        .code(command.verb().to_string())
        .and(" changes releases, so it only works in ")
        .join(channels, " or ")
        .and("; type it there.");
    super::request::refuse_with(shared, request, text, None).await
}
