//! Approval waits at the backend's approval steps: opening one, delivering
//! the decision exactly once, and a refused signal. (The request message is
//! `approval_request`; how a wait ended, `wait_end`.)

use std::sync::Arc;

use crate::audit::AuditAction;
use crate::backend::{BackendError, ExecutionSnapshot, Signal};
use crate::chat::{Message, Text, Tone};
use crate::state::{ApprovalState, DeploymentRecord, Rejection, Stage};

use super::messages::{self, BEFORE_START};
use super::supervisor::{Activity, Next, Supervisor};
use super::wait_end::{end_of_wait, join};

impl Supervisor {
    /// Follows the execution's approval steps; `None` to go on polling.
    pub(super) async fn follow_approval(
        &mut self,
        mut record: DeploymentRecord,
        snapshot: &ExecutionSnapshot,
    ) -> Option<Next> {
        let waiting_at = snapshot
            .waiting_for_approval
            .as_ref()
            .map(|w| w.step.as_str());
        if let Some(wait) = record
            .approval
            .as_ref()
            .filter(|w| w.is_open() && w.key != BEFORE_START && Some(w.key.as_str()) != waiting_at)
        {
            // The step stopped waiting: record how, once the backend says.
            let step = snapshot.step(&wait.key)?;
            let end = end_of_wait(wait, step.outcome.as_ref()?, record.cancelled_by.as_ref());
            self.close_wait(&mut record, end, Some(step)).await;
            if record.stage == Stage::AwaitingApproval {
                record.stage = Stage::Running;
            }
            return Some(match self.save(&record).await {
                Ok(saved) => {
                    self.refresh_approval_request(&saved).await;
                    Next::Continue
                }
                Err(next) => next,
            });
        }
        let waiting = snapshot.waiting_for_approval.as_ref()?;
        let Some(wait) = record.approval.clone().filter(|w| w.key == waiting.step) else {
            record.approval = Some(ApprovalState::new(&waiting.step, self.shared.clock.now()));
            record.stage = Stage::AwaitingApproval;
            return Some(
                self.save(&record)
                    .await
                    .map_or_else(|next| next, |_| Next::Continue),
            );
        };
        if !wait.is_open() {
            // Already recorded as ended; the backend has not caught up.
            return None;
        }
        if let Some(next) = self.ensure_approval_request(&record, &wait).await {
            return Some(next);
        }
        match wait.decision {
            Some(decision) if !wait.signalled && wait.refused.is_none() => {
                Some(self.send_signal(record, &wait, decision).await)
            }
            Some(_) if !wait.signalled => Some(self.refused_wait(record, &wait).await),
            None => {
                self.refresh_status(&record).await;
                self.refresh_approval_request(&record).await;
                Some(self.wait_for_decision(record, &wait).await)
            }
            // Delivered; the backend has not moved on yet.
            Some(_) => None,
        }
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
        let comment = signal_comment(&record, wait, decision);
        // A signal cannot be fenced like a write: a replica that lost its
        // lease since this step re-read the record must not send the
        // decision its successor may have sent already.
        let shared = Arc::clone(&self.shared);
        let signal = shared.backend.signal(&execution, decision, &comment);
        let Some(sent) = self
            .under_lease(shared.backend_call("signal", signal))
            .await
        else {
            return Next::Done;
        };
        match sent {
            Ok(()) => {}
            Err(error) if error.is_retryable() => {
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
            Err(error) => {
                return self
                    .signal_not_delivered(record, wait, decision, error)
                    .await;
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
        event.decision = Some(decision);
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

    /// The backend did not take the signal. Re-read: while the step still
    /// waits without our decision, it is a refusal (said in the thread,
    /// audited, never counted as delivered); otherwise the step moved on
    /// (an earlier signal got through, or someone decided elsewhere) and the
    /// watch records what the backend reports.
    async fn signal_not_delivered(
        &mut self,
        mut record: DeploymentRecord,
        wait: &ApprovalState,
        decision: Signal,
        error: BackendError,
    ) -> Next {
        let Some(execution) = record.execution.clone() else {
            return Next::Continue;
        };
        let reread = self.shared.backend.snapshot(&execution);
        let snapshot = match self.shared.backend_call("snapshot", reread).await {
            Ok(snapshot) => snapshot,
            Err(reread) => {
                tracing::warn!(%error, %reread, deployment = %self.id, "signal not taken and execution unreadable; retrying");
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
        };
        let still_waiting = snapshot
            .waiting_for_approval
            .as_ref()
            .is_some_and(|w| w.step == wait.key);
        let recorded = snapshot.step(&wait.key).is_some_and(|s| {
            s.decisions
                .iter()
                .any(|d| d.by_bot && d.decision == decision)
        });
        let Some(w) = record.approval.as_mut() else {
            return Next::Continue;
        };
        if !still_waiting || recorded {
            w.signalled = true;
            return self
                .save(&record)
                .await
                .map_or_else(|next| next, |_| Next::Continue);
        }
        let message = match &error {
            BackendError::SignalRefused { message } => message.clone(),
            other => other.user_message(),
        };
        tracing::error!(%error, deployment = %self.id, "the backend refused the approval signal");
        w.refused = Some(message.clone());
        let mut event = self.audit_record(
            AuditAction::SignalRefused,
            &record,
            &format!("{}:signal_refused", wait.key),
        );
        event.decision = Some(decision);
        event.reason = Some(message.clone());
        self.shared.audit_after(event).await;
        let saved = match self.save(&record).await {
            Ok(saved) => saved,
            Err(next) => return next,
        };
        let deadline = self.approval_deadline(wait);
        let text = match decision {
            Signal::Approve => Text::plain("AWS refused the approval: ")
                .user_text(message)
                .and(". The release is still waiting at step ")
                .user_text(wait.key.clone())
                .and(format!(
                    ". Fix the step's Approvers (they must include the bot's AWS role) or \
                     approve in the AWS console; otherwise chatdeploy stops the execution at {}.",
                    messages::format_time(deadline)
                )),
            Signal::Reject => Text::plain("AWS refused the rejection: ")
                .user_text(message)
                .and(". chatdeploy stops the execution instead."),
        };
        self.shared
            .say(
                &Self::thread(&saved),
                &Message::text(text).with_tone(Tone::Failure),
            )
            .await;
        self.refresh_approval_request(&saved).await;
        Next::Continue
    }

    /// A wait whose decision the backend refused: a rejection stops the
    /// execution at once; an approval waits for the console until the
    /// deadline, then the execution is stopped.
    async fn refused_wait(&mut self, mut record: DeploymentRecord, wait: &ApprovalState) -> Next {
        let deadline = self.approval_deadline(wait);
        if wait.decision == Some(Signal::Approve) {
            let remaining = self.shared.clock.until(deadline);
            if !remaining.is_zero() {
                self.refresh_status(&record).await;
                let poll = remaining.min(self.shared.polling.waiting);
                return Next::Sleep(poll, Activity::WaitingOnPerson);
            }
        }
        let Some(execution) = record.execution.clone() else {
            return Next::Continue;
        };
        let stop = self.shared.backend.cancel(&execution);
        match self.shared.backend_call("cancel", stop).await {
            Ok(()) | Err(BackendError::InvalidState { .. } | BackendError::NotFound { .. }) => {}
            Err(error) if error.is_retryable() => {
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "cannot stop the execution after a refused signal");
            }
        }
        let timeout = self.shared.catalog.approval().timeout();
        if let Some(w) = record.approval.as_mut() {
            if w.decision == Some(Signal::Approve) {
                w.decision = Some(Signal::Reject);
                w.rejection = Some(Rejection {
                    by: None,
                    at: self.shared.clock.now(),
                    reason: Some(format!(
                        "no approval reached AWS within {} (AWS refused the bot's signal), so \
                         chatdeploy stopped the execution",
                        messages::format_duration(timeout)
                    )),
                });
            }
            w.signalled = true;
        }
        self.save(&record)
            .await
            .map_or_else(|next| next, |_| Next::Continue)
    }
}

/// The comment sent with the bot's signal: who decided, where.
fn signal_comment(record: &DeploymentRecord, wait: &ApprovalState, decision: Signal) -> String {
    match decision {
        Signal::Approve => format!(
            "Approved in chat by {} (release {}, channel {}, thread {}).",
            join(&wait.approvers()),
            record.id,
            record.channel,
            record.thread.as_ref().map_or("-", |t| t.as_str())
        ),
        Signal::Reject => {
            let rejection = wait.rejection.as_ref();
            format!(
                "Rejected in chat by {} (release {}, channel {}): {}",
                rejection.and_then(|r| r.by.as_ref()).map_or_else(
                    || "chatdeploy (approval timeout)".to_owned(),
                    ToString::to_string
                ),
                record.id,
                record.channel,
                rejection.and_then(|r| r.reason.clone()).unwrap_or_default()
            )
        }
    }
}
