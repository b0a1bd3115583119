//! `deploy` and `rollback`: validate, audit (fail closed), lock, record, and
//! hand the release to its supervisor.

use std::sync::Arc;

use crate::audit::AuditAction;
use crate::catalog::Service;
use crate::state::{
    DeploymentRecord, LockAttempt, LockHolder, ReleaseKind, ServiceLock, Stage, StateError,
};

use super::messages::busy;
use super::request::{
    Request, STATE_UNAVAILABLE, audit_first, authorised_service, refuse, refuse_with, unavailable,
};
use super::{Shared, deployment_id_for, supervisor};
use crate::backend::idempotency_token;
use crate::chat::Handled;
use crate::policy::Action;

/// What the person asked to release.
pub(crate) enum ReleaseAsk {
    Deploy {
        version: String,
        environment: Option<String>,
        ticket: Option<String>,
    },
    Rollback {
        version: Option<String>,
    },
}

pub(crate) async fn release(
    shared: &Arc<Shared>,
    request: &Request<'_>,
    service_name: &str,
    ask: ReleaseAsk,
) -> Handled {
    let action = match ask {
        ReleaseAsk::Deploy { .. } => Action::Deploy,
        ReleaseAsk::Rollback { .. } => Action::Rollback,
    };
    let service = match authorised_service(shared, request, service_name, action).await {
        Ok(service) => service,
        Err(handled) => return handled,
    };
    let (kind, version, environment, ticket) = match resolve(shared, service, ask).await {
        Ok(resolved) => resolved,
        Err(sentence) => return refuse(shared, request, sentence, Some(service.name())).await,
    };
    let event = request.event;
    let id = deployment_id_for(&event.id);
    let now = shared.clock.now();
    let record = DeploymentRecord {
        id: id.clone(),
        kind,
        service: service.name().to_owned(),
        version,
        environment,
        ticket,
        requester: event.user.clone(),
        channel: event.channel.clone(),
        thread: event.reply_to().thread,
        status_message: None,
        source_event: event.id.clone(),
        idempotency_token: idempotency_token(&event.id, "start"),
        execution: None,
        stage: Stage::Requested,
        requested_at: now,
        started_at: None,
        ended_at: None,
        approval: None,
        approved_by: Vec::new(),
        cancelled_by: None,
        failure: None,
        gate: None,
        bypassed: None,
        watch_problem: None,
        finalized: false,
        revision: 0,
    };

    let lock = ServiceLock {
        service: record.service.clone(),
        holder: LockHolder::Release {
            deployment: id.clone(),
            version: record.version.clone(),
            requester: record.requester.clone(),
        },
        since: now,
    };
    match shared.state.try_lock(&lock).await {
        Ok(LockAttempt::Acquired) => {}
        Ok(LockAttempt::Held(held)) => {
            return refuse_with(shared, request, busy(&held), Some(service.name())).await;
        }
        Err(error) => {
            let what = "take the service lock";
            return unavailable(shared, request, Some(service.name()), what, &error).await;
        }
    }
    match shared.state.create_deployment(&record).await {
        Ok(()) => {}
        // An earlier delivery of this event already created it (its dedupe
        // record was lost): that release goes on, this one is a duplicate.
        Err(StateError::AlreadyExists { .. }) => return Handled::Duplicate,
        Err(error) => {
            let _ = shared.state.unlock(&lock.service, &lock.holder).await;
            let what = "store the release";
            return unavailable(shared, request, Some(service.name()), what, &error).await;
        }
    }
    // The release is stored (and the service locked) before its request is
    // audited, so a crash right after the audit record still leaves a
    // release to resume. Nothing external happens before the record is
    // written: the supervisor checks it again before it starts anything.
    let mut audit = request.audit(AuditAction::Requested);
    audit.service = Some(record.service.clone());
    audit.version = Some(record.version.clone());
    audit.environment = Some(record.environment.clone());
    audit.deployment = Some(id.clone());
    if let Err(handled) = audit_first(shared, request, audit).await {
        // Fail closed: no record of the request, no release.
        abandon(shared, record, &lock).await;
        return handled;
    }
    supervisor::spawn(shared, id.clone(), false);
    Handled::Released(id)
}

/// Ends a stored release that must not go on (its request could not be
/// audited): finished as failed, lock released, never started.
async fn abandon(shared: &Shared, mut record: DeploymentRecord, lock: &ServiceLock) {
    record.stage = Stage::Failed;
    record.failure = Some("The audit log could not be written, so nothing was done.".to_owned());
    record.ended_at = Some(shared.clock.now());
    record.finalized = true;
    if let Err(error) = shared.state.update_deployment(&record).await {
        tracing::error!(%error, deployment = %record.id, "cannot close a release whose request was not audited");
    }
    if let Err(error) = shared.state.unlock(&lock.service, &lock.holder).await {
        tracing::error!(%error, service = %lock.service, "cannot release the lock");
    }
}

/// The version, environment and ticket of the release, or why not.
async fn resolve(
    shared: &Shared,
    service: &Service,
    ask: ReleaseAsk,
) -> Result<(ReleaseKind, String, String, Option<String>), String> {
    match ask {
        ReleaseAsk::Deploy {
            version,
            environment,
            ticket,
        } => {
            service.check_version(&version).map_err(|e| e.to_string())?;
            let environment = service
                .environment(environment.as_deref())
                .map_err(|e| e.to_string())?;
            Ok((ReleaseKind::Deploy, version, environment.to_owned(), ticket))
        }
        ReleaseAsk::Rollback { version } => {
            let environment = service.default_environment().to_owned();
            let version = match version {
                Some(version) => {
                    service.check_version(&version).map_err(|e| e.to_string())?;
                    version
                }
                None => previous_successful(shared, service, &environment)
                    .await?
                    .ok_or_else(|| {
                        format!(
                            "There is no earlier successful release of {} in {environment} to \
                             roll back to; type `rollback {} to <version>`.",
                            service.name(),
                            service.name()
                        )
                    })?,
            };
            Ok((ReleaseKind::Rollback, version, environment, None))
        }
    }
}

/// The last successful version before the current one (the newest
/// successful release) in `environment`.
async fn previous_successful(
    shared: &Shared,
    service: &Service,
    environment: &str,
) -> Result<Option<String>, String> {
    let history = shared
        .state
        .history(service.name(), 200)
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read release history");
            STATE_UNAVAILABLE.to_owned()
        })?;
    let mut successful = history
        .iter()
        .filter(|e| e.outcome == Stage::Succeeded && e.environment == environment);
    let Some(current) = successful.next() else {
        return Ok(None);
    };
    Ok(successful
        .find(|e| e.version != current.version)
        .map(|e| e.version.clone()))
}
