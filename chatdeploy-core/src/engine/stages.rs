//! The stages before an execution runs: the request, the wait for approval
//! before the start, and the start itself.

use crate::audit::AuditAction;
use crate::backend::{Signal, StartRequest};
use crate::catalog::ApprovalMode;
use crate::state::{ApprovalState, DeploymentRecord, Rejection, Stage};

use super::render::{self, BEFORE_START};
use super::router::request_audit_id;
use super::supervisor::{Activity, Next, Supervisor};

impl Supervisor {
    pub(super) async fn requested(&mut self, mut record: DeploymentRecord) -> Next {
        // Fail closed: nothing happens until the request's audit record is
        // written. The command handler wrote it already (same ID, so this
        // writes nothing) unless the process died in between.
        let mut requested = self.audit_record(AuditAction::Requested, &record, "requested");
        requested.id = request_audit_id(&record.source_event, AuditAction::Requested);
        requested.actor = Some(record.requester.clone());
        if self.shared.audit(&requested).await.is_err() {
            return Next::Sleep(self.retry_delay(), Activity::Busy);
        }
        if record.cancelled_by.is_some() {
            record.stage = Stage::Cancelled;
            return self.finish(record).await;
        }
        let mode = match self.shared.catalog.service(&record.service) {
            Ok(service) => service.approval_mode(),
            Err(_) => {
                record.stage = Stage::Failed;
                record.failure = Some(format!("{} is no longer configured.", record.service));
                return self.finish(record).await;
            }
        };
        if mode == ApprovalMode::BeforeStart {
            record.stage = Stage::AwaitingApproval;
            record.approval = Some(ApprovalState::new(BEFORE_START, self.shared.clock.now()));
        } else {
            record.stage = Stage::Starting;
        }
        match self.save(&record).await {
            Ok(_) => Next::Continue,
            Err(next) => next,
        }
    }

    pub(super) async fn before_start(&mut self, mut record: DeploymentRecord) -> Next {
        if record.cancelled_by.is_some() {
            record.stage = Stage::Cancelled;
            return self.finish(record).await;
        }
        let Some(wait) = record.approval.clone() else {
            record.stage = Stage::Starting;
            return self
                .save(&record)
                .await
                .map_or_else(|next| next, |_| Next::Continue);
        };
        if let Some(next) = self.ensure_approval_request(&record, &wait).await {
            return next;
        }
        if wait.decision.is_none() {
            self.refresh_approval_request(&record).await;
        }
        match wait.decision {
            Some(Signal::Approve) => {
                if let Some(w) = record.approval.as_mut() {
                    w.signalled = true;
                }
                record.stage = Stage::Starting;
                match self.save(&record).await {
                    Ok(saved) => {
                        self.refresh_approval_request(&saved).await;
                        Next::Continue
                    }
                    Err(next) => next,
                }
            }
            Some(Signal::Reject) => {
                let timed_out = wait.rejection.as_ref().is_some_and(|r| r.by.is_none());
                record.stage = if timed_out {
                    Stage::TimedOut
                } else {
                    Stage::Rejected
                };
                self.finish(record).await
            }
            None => self.wait_for_decision(record, &wait).await,
        }
    }

    /// While undecided: time out at the deadline, else wait for a person.
    pub(super) async fn wait_for_decision(
        &mut self,
        mut record: DeploymentRecord,
        wait: &ApprovalState,
    ) -> Next {
        let timeout = self.shared.catalog.approval().timeout();
        let deadline = wait.requested_at + chrono::Duration::from_std(timeout).unwrap_or_default();
        let remaining = self.shared.clock.until(deadline);
        if remaining.is_zero() {
            if let Some(w) = record.approval.as_mut() {
                w.decision = Some(Signal::Reject);
                w.rejection = Some(Rejection {
                    by: None,
                    at: self.shared.clock.now(),
                    reason: Some(format!(
                        "no decision within {}",
                        render::format_duration(timeout)
                    )),
                });
            }
            return match self.save(&record).await {
                Ok(saved) => {
                    self.refresh_approval_request(&saved).await;
                    Next::Continue
                }
                Err(next) => next,
            };
        }
        let poll = if record.execution.is_some() {
            self.shared.polling.waiting
        } else {
            remaining
        };
        Next::Sleep(remaining.min(poll), Activity::WaitingOnPerson)
    }

    pub(super) async fn start(&mut self, mut record: DeploymentRecord) -> Next {
        let service = match self.shared.catalog.service(&record.service) {
            Ok(service) => service,
            Err(_) => {
                record.stage = Stage::Failed;
                record.failure = Some(format!("{} is no longer configured.", record.service));
                return self.finish(record).await;
            }
        };
        let request = StartRequest {
            deployment: record.id.clone(),
            service: record.service.clone(),
            version: record.version.clone(),
            environment: record.environment.clone(),
            requester: record.requester.clone(),
            document: service.document().to_owned(),
            document_version: service.document_version().map(str::to_owned),
            parameters: service.render_parameters(&Self::template(&record)),
            idempotency_token: record.idempotency_token,
        };
        match self
            .shared
            .backend_call(self.shared.backend.start(&request))
            .await
        {
            Ok(execution) => {
                self.retries = 0;
                record.execution = Some(execution);
                record.stage = Stage::Running;
                record.started_at = Some(self.shared.clock.now());
                // Audit before recording the step: after a crash in between,
                // the replay writes the same record ID (dropped by the sink)
                // instead of skipping the record.
                let event = self.audit_record(AuditAction::Started, &record, "started");
                self.shared.audit_after(event).await;
                match self.save(&record).await {
                    Ok(_) => Next::Continue,
                    Err(next) => next,
                }
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, deployment = %self.id, "start failed; retrying");
                Next::Sleep(self.retry_delay(), Activity::Busy)
            }
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "the backend refused to start");
                let mut event =
                    self.audit_record(AuditAction::StartFailed, &record, "start_failed");
                event.reason = Some(error.to_string());
                self.shared.audit_after(event).await;
                record.stage = Stage::Failed;
                record.failure = Some(error.user_message());
                self.finish(record).await
            }
        }
    }
}
