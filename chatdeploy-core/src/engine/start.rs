//! The stages before an execution runs: the request, the wait for approval
//! before the start, and the start itself.

use crate::audit::AuditAction;
use crate::backend::{Signal, StartRequest};
use crate::catalog::ApprovalMode;
use crate::state::{Actor, ApprovalState, DeploymentRecord, Rejection, Stage, WaitEnd};

use super::messages::{self, BEFORE_START};
use super::request::request_audit_id;
use super::supervisor::{Activity, Next, Supervisor};

impl Supervisor {
    pub(super) async fn requested(&mut self, mut record: DeploymentRecord) -> Next {
        // Fail closed: nothing happens until the request's audit record is
        // written. The command handler wrote it already, unless the process
        // died in between: a resumed release writes it again (same ID, so a
        // durable sink keeps one).
        if !self.request_audited {
            let mut requested = self.audit_record(AuditAction::Requested, &record, "requested");
            requested.id = request_audit_id(&record.source_event, AuditAction::Requested);
            requested.actor = Some(record.requester.clone());
            if self.shared.audit(&requested).await.is_err() {
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
            self.request_audited = true;
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
            let end = WaitEnd::Cancelled {
                by: record.cancelled_by.clone(),
            };
            self.close_wait(&mut record, end, None).await;
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
                let end = WaitEnd::Approved {
                    in_chat: wait.approvers(),
                    outside: Vec::new(),
                };
                self.close_wait(&mut record, end, None).await;
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
                let (end, stage) = match wait.rejection.as_ref() {
                    Some(Rejection {
                        by: Some(user),
                        reason,
                        ..
                    }) => (
                        WaitEnd::Rejected {
                            by: Actor::User(user.clone()),
                            reason: reason.clone(),
                        },
                        Stage::Rejected,
                    ),
                    _ => (WaitEnd::TimedOut { in_backend: false }, Stage::TimedOut),
                };
                self.close_wait(&mut record, end, None).await;
                record.stage = stage;
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
        let deadline = self.approval_deadline(wait);
        let remaining = self.shared.clock.until(deadline);
        if remaining.is_zero() {
            if let Some(w) = record.approval.as_mut() {
                w.decision = Some(Signal::Reject);
                w.rejection = Some(Rejection {
                    by: None,
                    at: self.shared.clock.now(),
                    reason: Some(format!(
                        "no decision within {}",
                        messages::format_duration(timeout)
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
        if service.approval_mode() == ApprovalMode::Document {
            match self.verify_gate(&mut record, &request).await {
                Ok(()) => {}
                Err(next) => return next,
            }
        }
        match self
            .shared
            .backend_call("start", self.shared.backend.start(&request))
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
                self.refuse_start(record, error.to_string(), error.user_message())
                    .await
            }
        }
    }

    /// A service whose approval lives in its document starts only when the
    /// document has an approval step the bot may answer; the gate is kept
    /// on the record to tell later whether the execution bypassed it.
    async fn verify_gate(
        &mut self,
        record: &mut DeploymentRecord,
        request: &StartRequest,
    ) -> Result<(), Next> {
        let gate = self.shared.backend.approval_gate(request);
        match self.shared.backend_call("approval_gate", gate).await {
            Ok(gate) => match gate.refusal(&request.document) {
                None => {
                    for warning in gate.warnings(&request.document) {
                        tracing::warn!(deployment = %self.id, "{warning}");
                    }
                    record.gate = Some(gate);
                    Ok(())
                }
                Some(why) => {
                    let detail = format!("approval gate: {why}");
                    let sentence = format!("Not started: {why}.");
                    Err(self.refuse_start(record.clone(), detail, sentence).await)
                }
            },
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, deployment = %self.id, "cannot read the approval gate; retrying");
                Err(Next::Sleep(self.retry_delay(), Activity::Busy))
            }
            Err(error) => {
                // Fail closed: an unverifiable gate is no gate.
                let sentence = format!(
                    "Not started: chatdeploy could not verify that document {} has an approval \
                     step the bot may answer. {}",
                    request.document,
                    error.user_message()
                );
                Err(self
                    .refuse_start(record.clone(), error.to_string(), sentence)
                    .await)
            }
        }
    }

    /// Ends a release that could not start: audited, then finished as
    /// failed with `sentence` for people.
    async fn refuse_start(
        &mut self,
        mut record: DeploymentRecord,
        detail: String,
        sentence: String,
    ) -> Next {
        let mut event = self.audit_record(AuditAction::StartFailed, &record, "start_failed");
        event.reason = Some(detail);
        self.shared.audit_after(event).await;
        record.stage = Stage::Failed;
        record.failure = Some(sentence);
        self.finish(record).await
    }
}
