//! The read-only commands: `status`, `history`, `services`, `runbook`,
//! `help`. Answered in the thread, audited as queries.

use crate::audit::AuditAction;
use crate::catalog::{ApprovalMode, Service};
use crate::chat::{Handled, Message, Text};
use crate::command::{Command, Verb};
use crate::state::{DeploymentRecord, LockHolder, ServiceLock, Stage};

use super::Shared;
use super::messages::{self, format_time, principal};
use super::request::{self, Request, STATE_UNAVAILABLE, refuse};

/// Releases listed by `history` when no n is given.
const DEFAULT_HISTORY: usize = 5;

pub(crate) async fn answer(shared: &Shared, request: &Request<'_>, command: &Command) -> Handled {
    let message = match compose(shared, request, command).await {
        Ok(message) => message,
        Err(handled) => return handled,
    };
    let mut audit = request.audit(AuditAction::Queried);
    audit.service = command.service().map(str::to_owned);
    let _ = shared.audit(&audit).await;
    shared.say(&request.event.reply_to(), &message).await;
    Handled::Answered
}

/// The answer to a read-only command; `Err` once the person was told why
/// there is none (an unknown service, an unreadable state store).
async fn compose(
    shared: &Shared,
    request: &Request<'_>,
    command: &Command,
) -> Result<Message, Handled> {
    let answer = match command {
        Command::Status { service: None } => status_all(shared).await,
        Command::Status {
            service: Some(name),
        } => status_one(shared, request::service(shared, request, name).await?).await,
        Command::History { service, limit } => {
            let service = request::service(shared, request, service).await?;
            history(
                shared,
                service,
                limit.map_or(DEFAULT_HISTORY, |n| n as usize),
            )
            .await
        }
        Command::Runbook { service } => {
            Ok(runbook(request::service(shared, request, service).await?))
        }
        Command::Services => Ok(services(shared)),
        Command::Help { topic } => Ok(help(shared, *topic)),
        _ => Ok(help(shared, None)),
    };
    // The reading functions logged what failed.
    match answer {
        Ok(message) => Ok(message),
        Err(()) => Err(refuse(shared, request, STATE_UNAVAILABLE.to_owned(), None).await),
    }
}

/// One line about a service: current version per environment, release in
/// flight, lock.
async fn service_line(
    shared: &Shared,
    service: &Service,
    in_flight: &[DeploymentRecord],
    locks: &[ServiceLock],
) -> Result<Text, ()> {
    let history = shared
        .state
        .history(service.name(), 200)
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read history");
        })?;
    let mut line = Text::new().emphasis(service.name()).and(": ");
    let current: Vec<Text> = service
        .environments()
        .iter()
        .filter_map(|environment| {
            history
                .iter()
                .find(|e| e.outcome == Stage::Succeeded && &e.environment == environment)
                .map(|release| {
                    Text::plain(format!(
                        "{} in {environment} (since {}, by ",
                        release.version,
                        format_time(release.ended_at)
                    ))
                    .user(release.requester.clone())
                    .and(")")
                })
        })
        .collect();
    line = if current.is_empty() {
        line.and("no release through chatdeploy yet")
    } else {
        line.join(current, "; ")
    };
    for record in in_flight
        .iter()
        .filter(|r| r.service == service.name() && !r.stage.is_terminal())
    {
        line = line
            .and(format!(
                ". In flight: {} to {}, {} (release {}, requested by ",
                record.version,
                record.environment,
                record.stage.as_str(),
                record.id
            ))
            .user(record.requester.clone())
            .and(")");
    }
    if let Some(lock) = locks.iter().find(|l| l.service == service.name())
        && let LockHolder::Manual { by, reason } = &lock.holder
    {
        line = line
            .and(". Locked by ")
            .user(by.clone())
            .and(format!(" since {}", format_time(lock.since)));
        if let Some(reason) = reason {
            line = line.and(": ").user_text(reason.clone());
        }
    }
    Ok(line.and("."))
}

async fn in_flight_and_locks(
    shared: &Shared,
) -> Result<(Vec<DeploymentRecord>, Vec<ServiceLock>), ()> {
    let in_flight = shared.state.in_flight().await.map_err(|error| {
        tracing::error!(%error, "cannot read releases in flight");
    })?;
    let locks = shared.state.locks().await.map_err(|error| {
        tracing::error!(%error, "cannot read locks");
    })?;
    Ok((in_flight, locks))
}

async fn status_all(shared: &Shared) -> Result<Message, ()> {
    let (in_flight, locks) = in_flight_and_locks(shared).await?;
    let mut lines = Vec::with_capacity(shared.catalog.services().count());
    for service in shared.catalog.services() {
        lines.push(service_line(shared, service, &in_flight, &locks).await?);
    }
    let count = lines.len();
    let busy = in_flight.iter().filter(|r| !r.stage.is_terminal()).count();
    Ok(Message::text(Text::plain(format!(
        "Status of {count} services, {busy} release(s) in flight:"
    )))
    .with_detail(Text::new().join(lines, "\n")))
}

async fn status_one(shared: &Shared, service: &Service) -> Result<Message, ()> {
    let (in_flight, locks) = in_flight_and_locks(shared).await?;
    Ok(Message::text(
        service_line(shared, service, &in_flight, &locks).await?,
    ))
}

async fn history(shared: &Shared, service: &Service, limit: usize) -> Result<Message, ()> {
    let entries = shared
        .state
        .history(service.name(), limit)
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read history");
        })?;
    if entries.is_empty() {
        return Ok(Message::text(Text::plain(format!(
            "No release of {} has finished through chatdeploy yet.",
            service.name()
        ))));
    }
    let lines = entries.iter().map(history_line);
    Ok(Message::text(Text::plain(format!(
        "Last {} release(s) of {}, newest first:",
        entries.len(),
        service.name()
    )))
    .with_detail(Text::new().join(lines, "\n")))
}

/// One finished release: when, what, how it ended and by whom, who asked,
/// who approved.
fn history_line(e: &crate::state::ReleaseRecord) -> Text {
    let mut approvers: Vec<Text> = e
        .approved_by
        .iter()
        .map(|u| Text::new().user(u.clone()))
        .collect();
    approvers.extend(
        e.approved_outside
            .iter()
            .map(|p| Text::from_user(p.clone()).and(" in AWS")),
    );
    let approvers = if approvers.is_empty() {
        Text::plain("no approval")
    } else {
        Text::plain("approved by ").join(approvers, ", ")
    };
    let mut line = Text::plain(format!(
        "{} {} to {}: {}",
        format_time(e.ended_at),
        e.version,
        e.environment,
        e.outcome.as_str()
    ));
    if let Some(by) = &e.ended_by {
        line = line.and(" by ").then(messages::actor(by));
    }
    if e.outcome != Stage::Succeeded
        && let Some(reason) = &e.reason
    {
        line = line.and(": ").user_text(reason.clone());
    }
    if e.bypassed.is_some() {
        line = line.and(" (").emphasis("APPROVAL BYPASSED").and(")");
    }
    line.and(" (requested by ")
        .user(e.requester.clone())
        .and(", ")
        .then(approvers)
        .and(format!(
            ", {}, release {})",
            match e.kind {
                crate::state::ReleaseKind::Deploy => "deploy",
                crate::state::ReleaseKind::Rollback => "rollback",
            },
            e.deployment
        ))
}

fn runbook(service: &Service) -> Message {
    match service.runbook() {
        Some(url) => {
            Message::text(Text::plain(format!("Runbook of {}: ", service.name())).link(url, url))
                .with_link(format!("{} runbook", service.name()), url)
        }
        None => Message::text(
            Text::plain(format!(
                "{} has no runbook configured; add ",
                service.name()
            ))
            .code("runbook = \"https://…\"")
            .and(" to its section of the configuration."),
        ),
    }
}

/// "like `r-99.1.0`" or "matching `^r-…$`".
fn version_format(service: &Service) -> Text {
    match service.version_example() {
        Some(example) => Text::plain("like ").code(example),
        None => Text::plain("matching ").code(service.version_pattern().as_str()),
    }
}

fn services(shared: &Shared) -> Message {
    let lines = shared.catalog.services().map(|service| {
        let mut line = Text::new().emphasis(service.name());
        if !service.aliases().is_empty() {
            line = line.and(format!(" (also {})", service.aliases().join(", ")));
        }
        if let Some(description) = service.description() {
            line = line.and(format!(": {description}"));
        }
        line = line
            .and(". Versions ")
            .then(version_format(service))
            .and(format!(
                "; environments {}; ",
                service.environments().join(", ")
            ));
        let approval = match service.approval_mode() {
            ApprovalMode::None => Text::plain("no approval"),
            mode => Text::plain(format!(
                "{} approval(s) {} from ",
                service.min_approvals(),
                if mode == ApprovalMode::BeforeStart {
                    "before the start"
                } else {
                    "at the document's approval step"
                }
            ))
            .join(service.approvers().iter().map(principal), " "),
        };
        line.then(approval).and(".")
    });
    Message::text("Services you can release:").with_detail(Text::new().join(lines, "\n"))
}

fn help(shared: &Shared, topic: Option<Verb>) -> Message {
    let accepted = Text::plain("Services: ")
        .join(
            shared.catalog.services().map(|s| {
                Text::plain(format!("{} (versions ", s.name()))
                    .then(version_format(s))
                    .and(")")
            }),
            ", ",
        )
        .and(".");
    match topic {
        Some(verb) => Message::text(
            Text::new()
                .code(verb.usage())
                .and(format!(": {}.", verb.summary())),
        )
        .with_detail(
            Text::plain(match verb.kind() {
                crate::command::CommandKind::Mutating => {
                    "It changes releases, so it works only in the deploy channels."
                }
                crate::command::CommandKind::ReadOnly => "It only reads, so it works anywhere.",
            })
            .and("\n")
            .then(accepted),
        ),
        None => {
            let lines = Verb::ALL.iter().map(|verb| {
                Text::new()
                    .code(verb.usage())
                    .and(format!(": {}", verb.summary()))
            });
            Message::text("Commands (mention me, or use /deploy):")
                .with_detail(Text::new().join(lines, "\n").and("\n").then(accepted))
        }
    }
}
