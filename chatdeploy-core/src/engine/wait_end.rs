//! How an approval wait ended, from the backend's outcome of its step, and
//! its audit: who decided is who the backend says decided.

use crate::audit::{AuditAction, AuditEvent};
use crate::backend::{Signal, StepSnapshot, WaitOutcome};
use crate::ids::UserId;
use crate::state::{Actor, ApprovalState, DeploymentRecord, Rejection, WaitEnd};

use super::supervisor::Supervisor;

impl Supervisor {
    /// Records how a wait ended (and who approved, when approved), and
    /// audits it: the decision chat made as the backend recorded it, or a
    /// decision made outside chat. Timeouts, stops and failures are audited
    /// by the release's outcome record.
    pub(super) async fn close_wait(
        &mut self,
        record: &mut DeploymentRecord,
        end: WaitEnd,
        step: Option<&StepSnapshot>,
    ) {
        let Some(wait) = record.approval.as_mut() else {
            return;
        };
        wait.ended = Some(end.clone());
        wait.signalled = true;
        let key = wait.key.clone();
        if let WaitEnd::Approved { in_chat, .. } = &end {
            for user in in_chat {
                if !record.approved_by.contains(user) {
                    record.approved_by.push(user.clone());
                }
            }
        }
        let bot = step.and_then(|s| s.decisions.iter().find(|d| d.by_bot));
        let mut events = Vec::new();
        match &end {
            WaitEnd::Approved { in_chat, outside } => {
                if !in_chat.is_empty() {
                    let mut event = self.wait_event(AuditAction::ApprovalRecorded, record, &key);
                    event.decision = Some(Signal::Approve);
                    event.principal = bot.map(|d| d.approver.clone());
                    event.reason = Some(format!(
                        "AWS recorded the approval given in chat by {}",
                        join(in_chat)
                    ));
                    events.push(event);
                }
                if !outside.is_empty() {
                    let mut event = self.wait_event(AuditAction::DecidedOutsideChat, record, &key);
                    event.decision = Some(Signal::Approve);
                    event.principal = Some(outside.join(", "));
                    event.reason = step.and_then(|s| comments(s, Signal::Approve));
                    events.push(event);
                }
            }
            WaitEnd::Rejected {
                by: Actor::User(user),
                reason,
            } => {
                let mut event = self.wait_event(AuditAction::ApprovalRecorded, record, &key);
                event.actor = Some(user.clone());
                event.decision = Some(Signal::Reject);
                event.principal = bot.map(|d| d.approver.clone());
                event.reason = reason.clone();
                events.push(event);
            }
            WaitEnd::Rejected {
                by: Actor::Backend(principal),
                reason,
            } => {
                let mut event = self.wait_event(AuditAction::DecidedOutsideChat, record, &key);
                event.decision = Some(Signal::Reject);
                event.principal = Some(principal.clone());
                event.reason = reason.clone();
                events.push(event);
            }
            WaitEnd::TimedOut { in_backend: false } if bot.is_some() => {
                let mut event = self.wait_event(AuditAction::ApprovalRecorded, record, &key);
                event.decision = Some(Signal::Reject);
                event.principal = bot.map(|d| d.approver.clone());
                event.reason = record.end_reason();
                events.push(event);
            }
            _ => {}
        }
        for event in events {
            self.shared.audit_after(event).await;
        }
    }

    fn wait_event(&self, action: AuditAction, record: &DeploymentRecord, key: &str) -> AuditEvent {
        self.audit_record(action, record, &format!("{key}:{}", action.as_str()))
    }
}

pub(super) fn join(users: &[UserId]) -> String {
    users
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comments of a step's decisions of one kind made outside chat.
fn comments(step: &StepSnapshot, decision: Signal) -> Option<String> {
    let comments: Vec<String> = step
        .decisions
        .iter()
        .filter(|d| !d.by_bot && d.decision == decision)
        .filter_map(|d| d.comment.clone())
        .collect();
    (!comments.is_empty()).then(|| comments.join("; "))
}

/// How `wait` ended, from the backend's outcome of its step: who decided
/// is who the backend says decided; the bot's own decisions are the ones
/// chat made (or chatdeploy's deadline).
pub(super) fn end_of_wait(
    wait: &ApprovalState,
    outcome: &WaitOutcome,
    cancelled_by: Option<&UserId>,
) -> WaitEnd {
    let chat_rejection = || match wait.rejection.as_ref() {
        Some(Rejection {
            by: Some(user),
            reason,
            ..
        }) => Some(WaitEnd::Rejected {
            by: Actor::User(user.clone()),
            reason: reason.clone(),
        }),
        Some(Rejection { by: None, .. }) => Some(WaitEnd::TimedOut { in_backend: false }),
        None => None,
    };
    match outcome {
        WaitOutcome::Approved { decisions } => WaitEnd::Approved {
            in_chat: if decisions.iter().any(|d| d.by_bot) {
                wait.approvers()
            } else {
                Vec::new()
            },
            outside: decisions
                .iter()
                .filter(|d| !d.by_bot)
                .map(|d| d.approver.clone())
                .collect(),
        },
        WaitOutcome::Rejected { decision } if decision.by_bot => {
            chat_rejection().unwrap_or_else(|| WaitEnd::Rejected {
                by: Actor::Backend(decision.approver.clone()),
                reason: decision.comment.clone(),
            })
        }
        WaitOutcome::Rejected { decision } => WaitEnd::Rejected {
            by: Actor::Backend(decision.approver.clone()),
            reason: decision.comment.clone(),
        },
        WaitOutcome::TimedOut => WaitEnd::TimedOut { in_backend: true },
        // A stop chatdeploy sent after a refused signal ends the wait as
        // the decision chat made (or its deadline); any other stop is a
        // cancellation, in chat or outside it.
        WaitOutcome::Cancelled => match wait.refused.as_ref().and(wait.decision) {
            Some(Signal::Reject) => chat_rejection().unwrap_or(WaitEnd::Cancelled {
                by: cancelled_by.cloned(),
            }),
            _ => WaitEnd::Cancelled {
                by: cancelled_by.cloned(),
            },
        },
        WaitOutcome::Failed { message } => WaitEnd::Failed {
            message: message.clone(),
        },
    }
}
