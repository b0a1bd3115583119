//! `lock` and `unlock`: freezing a service by hand.

use crate::audit::AuditAction;
use crate::chat::{Handled, Message, Text};
use crate::policy::Action;
use crate::state::{LockAttempt, LockHolder, ServiceLock};

use super::Shared;
use super::messages::busy;
use super::request::{Request, audit_first, authorised_service, refuse, refuse_with, unavailable};

pub(crate) async fn lock(
    shared: &Shared,
    request: &Request<'_>,
    service_name: &str,
    reason: Option<String>,
) -> Handled {
    let service = match authorised_service(shared, request, service_name, Action::Lock).await {
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
    if let Err(handled) = audit_first(shared, request, audit).await {
        return handled;
    }
    match shared.state.try_lock(&lock).await {
        Ok(LockAttempt::Acquired) => {
            let text = Text::plain(format!("{} is locked by ", lock.service))
                .user(user.clone())
                .and(": no releases until someone types ")
                .code(format!("unlock {}", lock.service))
                .and(".");
            shared
                .say(&request.event.reply_to(), &Message::text(text))
                .await;
            Handled::Accepted
        }
        Ok(LockAttempt::Held(held)) => {
            refuse_with(shared, request, busy(&held), Some(service.name())).await
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
    let service = match authorised_service(shared, request, service_name, Action::Unlock).await {
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
    if let Err(handled) = audit_first(shared, request, audit).await {
        return handled;
    }
    match shared.state.unlock(&held.service, &held.holder).await {
        Ok(Some(_)) => {
            let text = Text::plain(format!("{} is unlocked by ", held.service))
                .user(user.clone())
                .and(".");
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
