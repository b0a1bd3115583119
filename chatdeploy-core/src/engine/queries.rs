//! The read-only commands: `status`, `history`, `services`, `runbook`,
//! `help`. Answered in the thread, audited as queries.

use std::fmt::Write as _;

use crate::audit::AuditAction;
use crate::catalog::{ApprovalMode, Service};
use crate::chat::Message;
use crate::command::{Command, Verb};
use crate::state::{DeploymentRecord, LockHolder, ServiceLock, Stage};

use super::Shared;
use super::event::Handled;
use super::render::{self, format_time, mention, mention_principal};
use super::router::{self, Request, STATE_UNAVAILABLE, refuse};

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
        } => status_one(shared, router::service(shared, request, name).await?).await,
        Command::History { service, limit } => {
            let service = router::service(shared, request, service).await?;
            history(
                shared,
                service,
                limit.map_or(DEFAULT_HISTORY, |n| n as usize),
            )
            .await
        }
        Command::Runbook { service } => {
            Ok(runbook(router::service(shared, request, service).await?))
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

/// One line about a service, appended to `out`: current version, release
/// in flight, lock.
async fn service_line(
    shared: &Shared,
    service: &Service,
    in_flight: &[DeploymentRecord],
    locks: &[ServiceLock],
    out: &mut String,
) -> Result<(), ()> {
    let history = shared
        .state
        .history(service.name(), 200)
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read history");
        })?;
    // Writing to a String cannot fail.
    let _ = write!(out, "*{}*: ", service.name());
    let mut current = service.environments().iter().filter_map(|environment| {
        history
            .iter()
            .find(|e| e.outcome == Stage::Succeeded && &e.environment == environment)
            .map(|release| (environment, release))
    });
    match current.next() {
        None => out.push_str("no release through chatdeploy yet"),
        Some(first) => {
            for (i, (environment, release)) in std::iter::once(first).chain(current).enumerate() {
                let _ = write!(
                    out,
                    "{}{} in {environment} (since {}, by {})",
                    if i == 0 { "" } else { "; " },
                    release.version,
                    format_time(release.ended_at),
                    mention(&release.requester)
                );
            }
        }
    }
    for record in in_flight
        .iter()
        .filter(|r| r.service == service.name() && !r.stage.is_terminal())
    {
        let _ = write!(
            out,
            ". In flight: {} to {}, {} (release {}, requested by {})",
            record.version,
            record.environment,
            record.stage.as_str(),
            record.id,
            mention(&record.requester)
        );
    }
    if let Some(lock) = locks.iter().find(|l| l.service == service.name())
        && let LockHolder::Manual { by, reason } = &lock.holder
    {
        let _ = write!(
            out,
            ". Locked by {} since {}",
            mention(by),
            format_time(lock.since)
        );
        if let Some(reason) = reason {
            let _ = write!(out, ": {reason}");
        }
    }
    out.push('.');
    Ok(())
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
    // About one line of 64 bytes per service, so that it is not regrown per line.
    let mut lines = String::with_capacity(64 * shared.catalog.services().count());
    let mut count = 0;
    for service in shared.catalog.services() {
        if count > 0 {
            lines.push('\n');
        }
        service_line(shared, service, &in_flight, &locks, &mut lines).await?;
        count += 1;
    }
    let busy = in_flight.iter().filter(|r| !r.stage.is_terminal()).count();
    Ok(Message::text(format!(
        "Status of {count} services, {busy} release(s) in flight:"
    ))
    .with_detail(lines))
}

async fn status_one(shared: &Shared, service: &Service) -> Result<Message, ()> {
    let (in_flight, locks) = in_flight_and_locks(shared).await?;
    let mut line = String::new();
    service_line(shared, service, &in_flight, &locks, &mut line).await?;
    Ok(Message::text(line))
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
        return Ok(Message::text(format!(
            "No release of {} has finished through chatdeploy yet.",
            service.name()
        )));
    }
    let lines: Vec<String> = entries.iter().map(history_line).collect();
    Ok(Message::text(format!(
        "Last {} release(s) of {}, newest first:",
        entries.len(),
        service.name()
    ))
    .with_detail(lines.join("\n")))
}

/// One finished release: when, what, how it ended and by whom, who asked,
/// who approved.
fn history_line(e: &crate::state::ReleaseRecord) -> String {
    let mut approvers: Vec<String> = e.approved_by.iter().map(mention).collect();
    approvers.extend(e.approved_outside.iter().map(|p| format!("{p} in AWS")));
    let approvers = if approvers.is_empty() {
        "no approval".to_owned()
    } else {
        format!("approved by {}", approvers.join(", "))
    };
    let mut outcome = e.outcome.as_str().to_owned();
    if let Some(by) = &e.ended_by {
        let _ = write!(outcome, " by {}", render::actor(by));
    }
    if e.outcome != Stage::Succeeded
        && let Some(reason) = &e.reason
    {
        let _ = write!(outcome, ": {reason}");
    }
    if e.bypassed.is_some() {
        outcome.push_str(" (APPROVAL BYPASSED)");
    }
    format!(
        "{} {} to {}: {outcome} (requested by {}, {approvers}, {}, release {})",
        format_time(e.ended_at),
        e.version,
        e.environment,
        mention(&e.requester),
        match e.kind {
            crate::state::ReleaseKind::Deploy => "deploy",
            crate::state::ReleaseKind::Rollback => "rollback",
        },
        e.deployment
    )
}

fn runbook(service: &Service) -> Message {
    match service.runbook() {
        Some(url) => Message::text(format!("Runbook of {}: {url}", service.name()))
            .with_link(format!("{} runbook", service.name()), url),
        None => Message::text(format!(
            "{} has no runbook configured; add `runbook = \"https://…\"` to its section of the \
             configuration.",
            service.name()
        )),
    }
}

fn version_format(service: &Service) -> String {
    match service.version_example() {
        Some(example) => format!("like `{example}`"),
        None => format!("matching `{}`", service.version_pattern().as_str()),
    }
}

fn services(shared: &Shared) -> Message {
    let lines: Vec<String> = shared
        .catalog
        .services()
        .map(|service| {
            let aliases = if service.aliases().is_empty() {
                String::new()
            } else {
                format!(" (also {})", service.aliases().join(", "))
            };
            let description = service
                .description()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let approval = match service.approval_mode() {
                ApprovalMode::None => "no approval".to_owned(),
                mode => format!(
                    "{} approval(s) {} from {}",
                    service.min_approvals(),
                    if mode == ApprovalMode::BeforeStart {
                        "before the start"
                    } else {
                        "at the document's approval step"
                    },
                    service
                        .approvers()
                        .iter()
                        .map(mention_principal)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            };
            format!(
                "*{}*{aliases}{description}. Versions {}; environments {}; {approval}.",
                service.name(),
                version_format(service),
                service.environments().join(", ")
            )
        })
        .collect();
    Message::text("Services you can release:").with_detail(lines.join("\n"))
}

fn help(shared: &Shared, topic: Option<Verb>) -> Message {
    let accepted: Vec<String> = shared
        .catalog
        .services()
        .map(|s| format!("{} (versions {})", s.name(), version_format(s)))
        .collect();
    let accepted = format!("Services: {}.", accepted.join(", "));
    match topic {
        Some(verb) => Message::text(format!("`{}`: {}.", verb.usage(), verb.summary()))
            .with_detail(format!(
                "{}\n{accepted}",
                match verb.kind() {
                    crate::command::CommandKind::Mutating =>
                        "It changes releases, so it works only in the deploy channels.",
                    crate::command::CommandKind::ReadOnly => "It only reads, so it works anywhere.",
                }
            )),
        None => {
            let lines: Vec<String> = Verb::ALL
                .iter()
                .map(|verb| format!("`{}`: {}", verb.usage(), verb.summary()))
                .collect();
            Message::text("Commands (mention me, or use /deploy):")
                .with_detail(format!("{}\n{accepted}", lines.join("\n")))
        }
    }
}
