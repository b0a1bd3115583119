//! `lock` and `unlock`: freezing a service by hand.

use crate::audit::AuditAction;
use crate::chat::Message;
use crate::state::{LockAttempt, LockHolder, ServiceLock};

use super::Shared;
use super::commands::busy_sentence;
use super::event::Handled;
use super::render::mention;
use super::router::{self, Request, Role, refuse, unavailable};

pub(crate) async fn lock(
    shared: &Shared,
    request: &Request<'_>,
    service_name: &str,
    reason: Option<String>,
) -> Handled {
    let role = Role::DeployerOrApprover("lock");
    let service = match router::authorised_service(shared, request, service_name, role).await {
        Ok(service) => service,
        Err(handled) => return handled,
    };
    let user = &request.event.user;
    let lock = ServiceLock {
        service: service.name().to_owned(),
        holder: LockHolder::Manual {
            by: user.clone(),
            reason: reason.clone(),
        },
        since: shared.clock.now(),
    };
    let mut audit = request.audit(AuditAction::Locked);
    audit.service = Some(lock.service.clone());
    audit.reason = reason;
    if let Err(handled) = router::audit_first(shared, request, audit).await {
        return handled;
    }
    match shared.state.try_lock(&lock).await {
        Ok(LockAttempt::Acquired) => {
            let text = format!(
                "{} is locked by {}: no releases until someone types `unlock {}`.",
                lock.service,
                mention(user),
                lock.service
            );
            shared
                .say(&request.event.reply_to(), &Message::text(text))
                .await;
            Handled::Accepted
        }
        Ok(LockAttempt::Held(held)) => {
            refuse(shared, request, busy_sentence(&held), Some(service.name())).await
        }
        Err(error) => {
            unavailable(
                shared,
                request,
                Some(service.name()),
                "take the lock",
                &error,
            )
            .await
        }
    }
}

pub(crate) async fn unlock(shared: &Shared, request: &Request<'_>, service_name: &str) -> Handled {
    let role = Role::DeployerOrApprover("unlock");
    let service = match router::authorised_service(shared, request, service_name, role).await {
        Ok(service) => service,
        Err(handled) => return handled,
    };
    let held = match shared.state.lock(service.name()).await {
        Ok(held) => held,
        Err(error) => {
            return unavailable(
                shared,
                request,
                Some(service.name()),
                "read the lock",
                &error,
            )
            .await;
        }
    };
    let held = match held {
        None => {
            let sentence = format!("{} is not locked.", service.name());
            return refuse(shared, request, sentence, Some(service.name())).await;
        }
        Some(ServiceLock {
            holder: LockHolder::Release { deployment, .. },
            ..
        }) => {
            let sentence = format!(
                "{} is not frozen, it is busy with release {deployment}; it unlocks when that \
                 release ends, or type `cancel {deployment}`.",
                service.name()
            );
            return refuse(shared, request, sentence, Some(service.name())).await;
        }
        Some(held) => held,
    };
    let user = &request.event.user;
    let mut audit = request.audit(AuditAction::Unlocked);
    audit.service = Some(held.service.clone());
    if let Err(handled) = router::audit_first(shared, request, audit).await {
        return handled;
    }
    match shared.state.unlock(&held.service, &held.holder).await {
        Ok(Some(_)) => {
            let text = format!("{} is unlocked by {}.", held.service, mention(user));
            shared
                .say(&request.event.reply_to(), &Message::text(text))
                .await;
            Handled::Accepted
        }
        Ok(None) => {
            let sentence = format!(
                "{}'s lock changed meanwhile; type `status {}`.",
                held.service, held.service
            );
            refuse(shared, request, sentence, Some(service.name())).await
        }
        Err(error) => {
            unavailable(
                shared,
                request,
                Some(service.name()),
                "release the lock",
                &error,
            )
            .await
        }
    }
}
