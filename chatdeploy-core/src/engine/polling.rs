//! Watching a running execution: adaptive polling, approval waits and the
//! signals they lead to, decisions made outside chat, cancellation.

use crate::audit::AuditAction;
use crate::backend::{BackendError, ExecutionSnapshot, ExecutionStatus, Signal};
use crate::chat::PostedMessage;
use crate::state::{ApprovalState, DeploymentRecord, Rejection, Stage};

use super::render;
use super::supervisor::{Activity, Next, Supervisor};

impl Supervisor {
    pub(super) async fn watch(&mut self, mut record: DeploymentRecord) -> Next {
        let Some(execution) = record.execution.clone() else {
            record.stage = crate::state::Stage::Starting;
            return self
                .save(&record)
                .await
                .map_or_else(|next| next, |_| Next::Continue);
        };
        if record.cancelled_by.is_some() && !self.cancel_sent {
            match self
                .shared
                .backend_call(self.shared.backend.cancel(&execution))
                .await
            {
                // Already finished or stopping: nothing left to stop.
                Ok(()) | Err(BackendError::InvalidState { .. } | BackendError::NotFound { .. }) => {
                    self.cancel_sent = true;
                }
                Err(error) if error.is_retryable() => {
                    return Next::Sleep(self.retry_delay(), Activity::Busy);
                }
                Err(error) => {
                    tracing::error!(%error, deployment = %self.id, "cannot stop the execution");
                    self.cancel_sent = true;
                }
            }
        }
        let polled = self.shared.backend.snapshot(&execution);
        let snapshot = match self.shared.backend_call(polled).await {
            Ok(snapshot) => snapshot,
            Err(BackendError::NotFound { .. }) => {
                record.stage = Stage::Failed;
                record.failure = Some(format!("Execution {execution} no longer exists."));
                return self.finish(record).await;
            }
            Err(error) => {
                tracing::warn!(%error, deployment = %self.id, "cannot read the execution; retrying");
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
        };
        self.retries = 0;
        let changed = self.snapshot.as_ref() != Some(&snapshot);
        self.snapshot = Some(snapshot.clone());

        if snapshot.status.is_terminal() {
            return self.ended(record, &snapshot).await;
        }
        if let Some(waiting) = &snapshot.waiting_for_approval {
            let current = record.approval.clone().filter(|w| w.key == waiting.step);
            match current {
                None => {
                    record.approval =
                        Some(ApprovalState::new(&waiting.step, self.shared.clock.now()));
                    record.stage = Stage::AwaitingApproval;
                    return self
                        .save(&record)
                        .await
                        .map_or_else(|next| next, |_| Next::Continue);
                }
                Some(wait) => {
                    if let Some(next) = self.ensure_approval_request(&record, &wait).await {
                        return next;
                    }
                    match wait.decision {
                        Some(decision) if !wait.signalled => {
                            return self.send_signal(record, &wait, decision).await;
                        }
                        None => {
                            self.refresh_status(&record).await;
                            self.refresh_approval_request(&record).await;
                            return self.wait_for_decision(record, &wait).await;
                        }
                        // Sent; the backend has not moved on yet.
                        Some(_) => {}
                    }
                }
            }
        } else if record.stage == Stage::AwaitingApproval {
            if let Some(wait) = record.approval.as_mut()
                && wait.decision.is_none()
            {
                decided_outside(wait, &snapshot, self.shared.clock.now());
                wait.signalled = true;
            }
            record.stage = Stage::Running;
            self.audit_outside_decision(&record).await;
            return match self.save(&record).await {
                Ok(saved) => {
                    self.refresh_approval_request(&saved).await;
                    Next::Continue
                }
                Err(next) => next,
            };
        }
        self.refresh_status(&record).await;
        let waiting = snapshot.waiting_for_approval.is_some();
        self.interval = self
            .shared
            .polling
            .next_interval(self.interval, changed, waiting);
        Next::Sleep(self.interval, Activity::Busy)
    }

    async fn send_signal(
        &mut self,
        mut record: DeploymentRecord,
        wait: &ApprovalState,
        decision: Signal,
    ) -> Next {
        let Some(execution) = record.execution.clone() else {
            return Next::Continue;
        };
        let comment = match decision {
            Signal::Approve => format!(
                "Approved in chat by {} (release {}, channel {}, thread {}).",
                wait.approvers()
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                record.id,
                record.channel,
                record.thread.as_ref().map_or("-", |t| t.as_str())
            ),
            Signal::Reject => format!(
                "Rejected in chat by {} (release {}, channel {}): {}",
                wait.rejection
                    .as_ref()
                    .and_then(|r| r.by.as_ref())
                    .map_or_else(
                        || "chatdeploy (approval timeout)".to_owned(),
                        ToString::to_string
                    ),
                record.id,
                record.channel,
                wait.rejection
                    .as_ref()
                    .and_then(|r| r.reason.clone())
                    .unwrap_or_default()
            ),
        };
        let signal = self.shared.backend.signal(&execution, decision, &comment);
        match self.shared.backend_call(signal).await {
            // InvalidState: the step no longer waits, so a signal already
            // got through (e.g. before a restart): never send a second one.
            Ok(()) | Err(BackendError::InvalidState { .. }) => {}
            Err(error) if error.is_retryable() => {
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "the backend refused the signal");
                return Next::Sleep(self.shared.polling.slow, Activity::Busy);
            }
        }
        if let Some(w) = record.approval.as_mut() {
            w.signalled = true;
        }
        // Audit before recording the step (see `start`).
        let mut event = self.audit_record(
            AuditAction::Signalled,
            &record,
            &format!("{}:signalled", wait.key),
        );
        event.reason = Some(comment);
        self.shared.audit_after(event).await;
        match self.save(&record).await {
            Ok(saved) => {
                self.refresh_approval_request(&saved).await;
                self.interval = self.shared.polling.fast;
                Next::Sleep(self.interval, Activity::Busy)
            }
            Err(next) => next,
        }
    }

    /// The execution ended: record the outcome and finish.
    async fn ended(&mut self, mut record: DeploymentRecord, snapshot: &ExecutionSnapshot) -> Next {
        let now = self.shared.clock.now();
        if record.stage == Stage::AwaitingApproval {
            if let Some(wait) = record.approval.as_mut().filter(|w| w.decision.is_none()) {
                decided_outside(wait, snapshot, now);
                wait.signalled = true;
            }
            self.audit_outside_decision(&record).await;
        }
        let decision = record.approval.as_ref().and_then(|w| w.decision);
        let rejected_by_timeout = record
            .approval
            .as_ref()
            .and_then(|w| w.rejection.as_ref())
            .is_some_and(|r| {
                r.by.is_none()
                    && record
                        .approval
                        .as_ref()
                        .is_some_and(|w| w.decided_outside.is_none())
            });
        record.stage = match &snapshot.status {
            ExecutionStatus::Succeeded => Stage::Succeeded,
            ExecutionStatus::Cancelled => Stage::Cancelled,
            ExecutionStatus::TimedOut => Stage::TimedOut,
            _ if decision == Some(Signal::Reject) && rejected_by_timeout => Stage::TimedOut,
            _ if decision == Some(Signal::Reject) => Stage::Rejected,
            _ => Stage::Failed,
        };
        if record.stage == Stage::Failed {
            record.failure = Some(match snapshot.failed_step() {
                Some(step) => format!(
                    "Step {} failed: {}",
                    step.name,
                    step.failure_message
                        .clone()
                        .or_else(|| snapshot.failure_message.clone())
                        .unwrap_or_else(|| "no message from the backend".to_owned())
                ),
                None => snapshot
                    .failure_message
                    .clone()
                    .unwrap_or_else(|| "The execution failed without a message.".to_owned()),
            });
        }
        self.finish(record).await
    }

    /// Audits a wait decided outside chat (deterministic ID: once per wait).
    async fn audit_outside_decision(&self, record: &DeploymentRecord) {
        let Some(wait) = record
            .approval
            .as_ref()
            .filter(|w| w.decided_outside.is_some())
        else {
            return;
        };
        let mut event = self.audit_record(
            AuditAction::DecidedOutsideChat,
            record,
            &format!("{}:decided_outside_chat", wait.key),
        );
        event.reason = wait.decided_outside.clone();
        self.shared.audit_after(event).await;
    }

    /// Posts the approval request once per wait; `None` to go on.
    pub(super) async fn ensure_approval_request(
        &mut self,
        record: &DeploymentRecord,
        wait: &ApprovalState,
    ) -> Option<Next> {
        if wait.message.is_some() {
            return None;
        }
        let message = self.approval_message(record, wait);
        match self.shared.chat.post(&Self::thread(record), &message).await {
            Ok(posted) => {
                self.rendered_request = Some(message.fingerprint());
                let mut next = record.clone();
                if let Some(w) = next.approval.as_mut() {
                    w.message = Some(posted.id);
                }
                // Audit before recording the step (see `start`).
                let mut event = self.audit_record(
                    AuditAction::ApprovalRequested,
                    &next,
                    &format!("{}:approval_requested", wait.key),
                );
                event.reason = Some(format!(
                    "approvers: {}",
                    self.shared
                        .policy
                        .approvers(&record.service)
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                self.shared.audit_after(event).await;
                match self.save(&next).await {
                    Ok(saved) => {
                        self.refresh_status(&saved).await;
                        Some(Next::Continue)
                    }
                    Err(next) => Some(next),
                }
            }
            Err(error) => {
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot post the approval request; will retry");
                // Without the request nobody can click; the text commands
                // still work, and the post is retried soon.
                Some(Next::Sleep(self.retry_delay(), Activity::WaitingOnPerson))
            }
        }
    }

    fn approval_message(
        &self,
        record: &DeploymentRecord,
        wait: &ApprovalState,
    ) -> crate::chat::Message {
        let timeout = self.shared.catalog.approval().timeout();
        let deadline = wait.requested_at + chrono::Duration::from_std(timeout).unwrap_or_default();
        render::approval_request(
            record,
            wait,
            &self.shared.policy.approvers(&record.service),
            self.shared
                .policy
                .required_approvals(&record.service)
                .max(1),
            deadline,
        )
    }

    /// Updates the approval request to show the decision (best effort).
    pub(super) async fn refresh_approval_request(&mut self, record: &DeploymentRecord) {
        let Some(wait) = record.approval.as_ref() else {
            return;
        };
        let Some(id) = &wait.message else {
            return;
        };
        let posted = PostedMessage {
            channel: record.channel.clone(),
            id: id.clone(),
        };
        let message = self.approval_message(record, wait);
        if self.rendered_request == Some(message.fingerprint()) {
            return;
        }
        match self.shared.chat.update(&posted, &message).await {
            Ok(()) => self.rendered_request = Some(message.fingerprint()),
            Err(error) => {
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot update the approval request; will retry");
            }
        }
    }
}

/// Records on `wait` that the backend's approval step was decided without
/// the bot: by whom and how, as far as the backend reports it.
fn decided_outside(
    wait: &mut ApprovalState,
    snapshot: &ExecutionSnapshot,
    now: chrono::DateTime<chrono::Utc>,
) {
    let recorded = snapshot
        .step(&wait.key)
        .and_then(|step| step.decisions.last().cloned());
    let (who, decision, at) = match recorded {
        Some(d) => (d.approver, d.decision, d.at.unwrap_or(now)),
        None => ("someone outside chat".to_owned(), Signal::Approve, now),
    };
    wait.decided_outside = Some(format!("{who} at {}", render::format_time(at)));
    wait.decision = Some(decision);
    if decision == Signal::Reject {
        wait.rejection = Some(Rejection {
            by: None,
            at,
            reason: Some(format!("rejected outside chat by {who}")),
        });
    }
}
