//! `approve`, `reject` (and their buttons) and `cancel`: check, audit (fail
//! closed), record with a revision check, wake the release's supervisor.
//! The supervisor performs the effect exactly once.

use crate::audit::AuditAction;
use crate::backend::Signal;
use crate::chat::{Handled, Message, Text};
use crate::ids::DeploymentId;
use crate::policy::{Action, ActionRequest, Denial, ReleaseFacts, Verdict};
use crate::state::{Approval, DeploymentRecord, Rejection, Stage, StateError};

use super::Shared;
use super::deployment_ids::looks_like_deployment_id;
use super::request::{self, Request, STATE_UNAVAILABLE, audit_first, refuse, unavailable};

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
        if looks_like_deployment_id(text) {
            Self::Deployment(DeploymentId::new(text))
        } else {
            Self::Service(text.to_owned())
        }
    }
}

/// How many times a revision-checked update is retried against concurrent
/// writers before giving up.
const MAX_CONFLICT_RETRIES: usize = 32;

/// The release a target names, if it satisfies `wanted`.
async fn resolve(
    shared: &Shared,
    request: &Request<'_>,
    target: Target,
    wanted: fn(&DeploymentRecord) -> bool,
    missing: &str,
) -> Result<DeploymentRecord, Handled> {
    match target {
        Target::Deployment(id) => match shared.state.deployment(&id).await {
            Ok(Some(record)) if wanted(&record) => Ok(record),
            Ok(Some(record)) => {
                let sentence = format!(
                    "Release {id} ({} {}) is {}, so there is nothing to {missing}.",
                    record.service,
                    record.version,
                    record.stage.as_str()
                );
                Err(refuse(shared, request, sentence, Some(&record.service)).await)
            }
            Ok(None) => {
                let sentence = format!(
                    "There is no release {id}; type `status` to see the releases in flight."
                );
                Err(refuse(shared, request, sentence, None).await)
            }
            Err(error) => Err(unavailable(shared, request, None, "read the release", &error).await),
        },
        Target::Service(name) => {
            let service = request::service(shared, request, &name).await?;
            let in_flight = match shared.state.in_flight().await {
                Ok(in_flight) => in_flight,
                Err(error) => {
                    let what = "read the releases in flight";
                    return Err(unavailable(shared, request, None, what, &error).await);
                }
            };
            let mut matching: Vec<DeploymentRecord> = in_flight
                .into_iter()
                .filter(|r| r.service == service.name() && !r.stage.is_terminal() && wanted(r))
                .collect();
            match matching.len() {
                1 => Ok(matching.remove(0)),
                0 => {
                    let sentence = format!(
                        "No release of {} is waiting for you to {missing}; type `status {}` to \
                         see where it is.",
                        service.name(),
                        service.name()
                    );
                    Err(refuse(shared, request, sentence, Some(service.name())).await)
                }
                _ => {
                    let ids: Vec<String> = matching.iter().map(|r| r.id.to_string()).collect();
                    let sentence = format!(
                        "Several releases of {} match; name one by its ID: {}.",
                        service.name(),
                        ids.join(", ")
                    );
                    Err(refuse(shared, request, sentence, Some(service.name())).await)
                }
            }
        }
    }
}

fn awaiting_decision(record: &DeploymentRecord) -> bool {
    record.stage == Stage::AwaitingApproval
        && record
            .approval
            .as_ref()
            .is_some_and(|wait| wait.decision.is_none())
}

pub(crate) async fn decide(
    shared: &Shared,
    request: &Request<'_>,
    target: Target,
    decision: Signal,
    reason: Option<String>,
) -> Handled {
    let verb = match decision {
        Signal::Approve => "approve",
        Signal::Reject => "reject",
    };
    let record = match resolve(shared, request, target, awaiting_decision, verb).await {
        Ok(record) => record,
        Err(handled) => return handled,
    };
    let user = &request.event.user;
    let Some(wait) = record.approval.clone() else {
        return Handled::Refused;
    };
    let ask = ActionRequest {
        action: match decision {
            Signal::Approve => Action::Approve,
            Signal::Reject => Action::Reject,
        },
        user: user.clone(),
        service: record.service.clone(),
        environment: Some(record.environment.clone()),
        release: Some(ReleaseFacts {
            requester: record.requester.clone(),
            approved_by: wait.approvers(),
        }),
    };
    match shared.access.decide(&ask).await {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Denied(denial)) => {
            let mut audit = audit_for(request, AuditAction::ApprovalDenied, &record)
                .with_reason(denial.user_message());
            audit.id = format!("{}:{}:approval_denied", request.event.id, wait.key);
            let _ = shared.audit(&audit).await;
            shared
                .tell(
                    &request.event.reply_to(),
                    user,
                    Message::text(Text::plain(denial.user_message())),
                )
                .await;
            return Handled::Refused;
        }
        Err(error) => {
            tracing::warn!(%error, "the access policy could not decide");
            let sentence = "chatdeploy could not check who may approve right now; try again \
                            shortly."
                .to_owned();
            return refuse(shared, request, sentence, Some(&record.service)).await;
        }
    }
    let required = shared.policy.required_approvals(&record.service).max(1);
    let mut current = record;
    for _ in 0..MAX_CONFLICT_RETRIES {
        let mut next = current.clone();
        let Some(wait_now) = next.approval.as_mut().filter(|w| w.key == wait.key) else {
            break;
        };
        if wait_now.decision.is_some() || next.stage != Stage::AwaitingApproval {
            let sentence = "This approval request has already been decided.".to_owned();
            return refuse(shared, request, sentence, Some(&current.service)).await;
        }
        let now = shared.clock.now();
        let action = match decision {
            Signal::Approve => {
                if wait_now.approvals.iter().any(|a| &a.by == user) {
                    let sentence = Denial::AlreadyApproved.user_message();
                    return refuse(shared, request, sentence, Some(&current.service)).await;
                }
                wait_now.approvals.push(Approval {
                    by: user.clone(),
                    at: now,
                });
                if wait_now.approvals.len() >= required as usize {
                    wait_now.decision = Some(Signal::Approve);
                }
                // `approved_by` lists approvals the backend recorded; it is
                // filled when the wait ends approved.
                AuditAction::Approved
            }
            Signal::Reject => {
                wait_now.rejection = Some(Rejection {
                    by: Some(user.clone()),
                    at: now,
                    reason: reason.clone(),
                });
                wait_now.decision = Some(Signal::Reject);
                AuditAction::Rejected
            }
        };
        let complete = wait_now.decision.is_some();
        let count = wait_now.approvals.len();
        let mut audit = audit_for(request, action, &next);
        audit.id = format!("{}:{}:{}:{user}", next.id, wait.key, action.as_str());
        audit.decision = Some(decision);
        audit.reason = reason.clone();
        if let Err(handled) = audit_first(shared, request, audit).await {
            return handled;
        }
        match shared.state.update_deployment(&next).await {
            Ok(_) => {
                shared.wake(&next.id);
                let ack = match (decision, complete) {
                    (Signal::Reject, _) => "Rejected; the release will stop.".to_owned(),
                    (Signal::Approve, true) => "Approved; the release continues.".to_owned(),
                    (Signal::Approve, false) => {
                        format!("Your approval is counted: {count} of {required}.")
                    }
                };
                shared
                    .tell(
                        &request.event.reply_to(),
                        user,
                        Message::text(Text::plain(ack)),
                    )
                    .await;
                return Handled::Accepted;
            }
            Err(StateError::Conflict { .. }) => match shared.state.deployment(&next.id).await {
                Ok(Some(reread)) => current = reread,
                _ => break,
            },
            Err(error) => {
                tracing::error!(%error, "cannot record the decision");
                break;
            }
        }
    }
    refuse(
        shared,
        request,
        STATE_UNAVAILABLE.to_owned(),
        Some(&current.service),
    )
    .await
}

fn audit_for(
    request: &Request<'_>,
    action: AuditAction,
    record: &DeploymentRecord,
) -> crate::audit::AuditEvent {
    let mut audit = request.audit(action);
    audit.service = Some(record.service.clone());
    audit.version = Some(record.version.clone());
    audit.environment = Some(record.environment.clone());
    audit.deployment = Some(record.id.clone());
    audit.execution = record.execution.clone();
    audit
}

pub(crate) async fn cancel(shared: &Shared, request: &Request<'_>, target: Target) -> Handled {
    let unfinished = |r: &DeploymentRecord| !r.stage.is_terminal();
    let mut current = match resolve(shared, request, target, unfinished, "cancel").await {
        Ok(record) => record,
        Err(handled) => return handled,
    };
    let user = &request.event.user;
    let facts = ReleaseFacts {
        requester: current.requester.clone(),
        approved_by: current.approved_by.clone(),
    };
    let service = current.service.clone();
    if let Err(handled) =
        request::authorise(shared, request, Action::Cancel, &service, Some(facts)).await
    {
        return handled;
    }
    if let Err(handled) = audit_first(
        shared,
        request,
        audit_for(request, AuditAction::CancelRequested, &current),
    )
    .await
    {
        return handled;
    }
    for _ in 0..MAX_CONFLICT_RETRIES {
        if current.stage.is_terminal() {
            let sentence = format!(
                "Release {} has already {}.",
                current.id,
                current.stage.as_str()
            );
            return refuse(shared, request, sentence, Some(&current.service)).await;
        }
        if current.cancelled_by.is_some() {
            break;
        }
        let mut next = current.clone();
        next.cancelled_by = Some(user.clone());
        match shared.state.update_deployment(&next).await {
            Ok(_) => break,
            Err(StateError::Conflict { .. }) => match shared.state.deployment(&next.id).await {
                Ok(Some(reread)) => current = reread,
                _ => return refuse(shared, request, STATE_UNAVAILABLE.to_owned(), None).await,
            },
            Err(error) => {
                let what = "record the cancellation";
                return unavailable(shared, request, None, what, &error).await;
            }
        }
    }
    shared.wake(&current.id);
    let ack = format!("Cancelling release {} of {}.", current.id, current.service);
    shared
        .tell(
            &request.event.reply_to(),
            user,
            Message::text(Text::plain(ack)),
        )
        .await;
    Handled::Accepted
}
