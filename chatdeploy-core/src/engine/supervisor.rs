//! One task per release: reconciles the stored record with the backend until
//! the release is finished, and is restartable at every step (each step
//! re-reads the record, acts, and records what it did).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::audit::{AuditAction, AuditEvent};
use crate::backend::{ExecutionSnapshot, Signal, StartRequest};
use crate::catalog::{ApprovalMode, TemplateContext};
use crate::chat::{Conversation, Message, PostedMessage};
use crate::ids::DeploymentId;
use crate::state::{ApprovalState, DeploymentRecord, Rejection, Stage, StateError};

use super::render::{self, BEFORE_START, Links};
use super::{Shared, SupervisorHandle};

/// What a supervisor is doing, for [`super::Engine::until_settled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Working, or waiting on the backend.
    Busy,
    /// Waiting on a person (an approval).
    WaitingOnPerson,
    /// Finished.
    Done,
}

/// What to do after a step.
pub(super) enum Next {
    /// Re-read the record and take the next step now.
    Continue,
    /// Wait (or until woken), doing `Activity` meanwhile.
    Sleep(Duration, Activity),
    /// The release is finalized (or gone).
    Done,
}

/// Supervises `id` unless a supervisor already does (then wakes it).
pub(crate) fn spawn(shared: &Arc<Shared>, id: DeploymentId, resumed: bool) {
    let wake = Arc::new(Notify::new());
    let activity = Arc::new(watch::Sender::new(Activity::Busy));
    {
        let mut supervisors = shared.supervisors();
        if let Some(handle) = supervisors.get(&id) {
            if *handle.activity.borrow() != Activity::Done {
                handle.activity.send_replace(Activity::Busy);
                handle.wake.notify_one();
                return;
            }
        }
        supervisors.insert(
            id.clone(),
            SupervisorHandle {
                wake: Arc::clone(&wake),
                activity: Arc::clone(&activity),
            },
        );
    }
    let mut supervisor = Supervisor {
        shared: Arc::clone(shared),
        id,
        wake,
        activity,
        snapshot: None,
        rendered: None,
        rendered_request: None,
        interval: shared.polling.fast,
        retries: 0,
        cancel_sent: false,
    };
    tokio::spawn(async move {
        if resumed {
            supervisor.audit_resumed().await;
        }
        supervisor.run().await;
        supervisor.activity.send_replace(Activity::Done);
        supervisor.shared.supervisors().remove(&supervisor.id);
    });
}

pub(super) struct Supervisor {
    pub(super) shared: Arc<Shared>,
    pub(super) id: DeploymentId,
    wake: Arc<Notify>,
    activity: Arc<watch::Sender<Activity>>,
    /// The last snapshot seen, to notice changes.
    pub(super) snapshot: Option<ExecutionSnapshot>,
    /// The status message as last delivered, to skip needless updates.
    pub(super) rendered: Option<Message>,
    /// The approval request as last delivered.
    pub(super) rendered_request: Option<Message>,
    /// The current polling interval.
    pub(super) interval: Duration,
    /// Consecutive retryable failures (throttling, outages).
    pub(super) retries: u32,
    /// A stop was sent to the backend (in this process).
    pub(super) cancel_sent: bool,
}

impl Supervisor {
    async fn run(&mut self) {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let record = match self.shared.state.deployment(&self.id).await {
                Ok(Some(record)) => record,
                Ok(None) => {
                    tracing::error!(deployment = %self.id, "release vanished from the state store");
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, deployment = %self.id, "cannot read the release");
                    let delay = self.retry_delay();
                    self.pause(delay, Activity::Busy, &mut shutdown).await;
                    continue;
                }
            };
            if record.finalized {
                return;
            }
            match self.step(record).await {
                Next::Continue => {}
                Next::Sleep(delay, activity) => self.pause(delay, activity, &mut shutdown).await,
                Next::Done => return,
            }
        }
    }

    async fn pause(
        &self,
        delay: Duration,
        activity: Activity,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        self.activity.send_replace(activity);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.wake.notified() => {}
            _ = shutdown.changed() => {}
        }
        self.activity.send_replace(Activity::Busy);
    }

    /// The delay before the next retry after a retryable failure.
    pub(super) fn retry_delay(&mut self) -> Duration {
        let delay = self
            .shared
            .polling
            .throttle_delay(self.retries, self.id.as_str());
        self.retries = self.retries.saturating_add(1);
        delay
    }

    async fn step(&mut self, record: DeploymentRecord) -> Next {
        if record.status_message.is_none() && !record.stage.is_terminal() {
            if let Some(next) = self.post_status(&record).await {
                return next;
            }
        }
        match record.stage {
            Stage::Requested => self.requested(record).await,
            Stage::AwaitingApproval if record.execution.is_none() => {
                self.before_start(record).await
            }
            Stage::Starting => self.start(record).await,
            Stage::Running | Stage::AwaitingApproval => self.watch(record).await,
            _ => self.finish(record).await,
        }
    }

    /// Stores `record`; a lost race or an outage means "re-read and retry".
    pub(super) async fn save(
        &mut self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, Next> {
        match self.shared.state.update_deployment(record).await {
            Ok(saved) => Ok(saved),
            Err(StateError::Conflict { .. }) => Err(Next::Continue),
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "cannot store the release");
                Err(Next::Sleep(self.retry_delay(), Activity::Busy))
            }
        }
    }

    pub(super) fn thread(record: &DeploymentRecord) -> Conversation {
        Conversation {
            channel: record.channel.clone(),
            thread: record.thread.clone(),
        }
    }

    pub(super) fn template<'a>(record: &'a DeploymentRecord) -> TemplateContext<'a> {
        TemplateContext {
            service: &record.service,
            version: &record.version,
            env: &record.environment,
            requester: record.requester.as_str(),
            deployment_id: record.id.as_str(),
            ticket: record.ticket.as_deref(),
        }
    }

    pub(super) fn links(&self, record: &DeploymentRecord) -> Links {
        Links {
            release: self
                .shared
                .catalog
                .service(&record.service)
                .ok()
                .and_then(|s| s.release_url(&Self::template(record))),
            execution: record
                .execution
                .as_ref()
                .and_then(|e| self.shared.backend.execution_url(e)),
        }
    }

    /// A lifecycle audit record of this release, with a deterministic ID.
    pub(super) fn audit_record(
        &self,
        action: AuditAction,
        record: &DeploymentRecord,
        key: &str,
    ) -> AuditEvent {
        let mut event = AuditEvent::new(action, None).with_id(format!("{}:{key}", record.id));
        event.service = Some(record.service.clone());
        event.version = Some(record.version.clone());
        event.environment = Some(record.environment.clone());
        event.deployment = Some(record.id.clone());
        event.execution = record.execution.clone();
        event.channel = Some(record.channel.clone());
        event.thread = record.thread.clone();
        event.source_event = Some(record.source_event.clone());
        event
    }

    async fn audit_resumed(&self) {
        if let Ok(Some(record)) = self.shared.state.deployment(&self.id).await {
            let mut event = self.audit_record(AuditAction::Resumed, &record, "resumed");
            // Each resume is its own record.
            event.id = format!("{}:resumed:{}", record.id, uuid::Uuid::new_v4());
            event.reason = Some(format!(
                "picked up again at stage {}",
                record.stage.as_str()
            ));
            self.shared.audit_after(event).await;
        }
    }

    /// Posts the status message; `None` to go on with the step.
    async fn post_status(&mut self, record: &DeploymentRecord) -> Option<Next> {
        let message = render::status_message(record, self.snapshot.as_ref(), &self.links(record));
        match self.shared.chat.post(&Self::thread(record), &message).await {
            Ok(posted) => {
                let mut next = record.clone();
                next.status_message = Some(posted.id);
                match self.save(&next).await {
                    Ok(_) => {
                        self.rendered = Some(message);
                        Some(Next::Continue)
                    }
                    Err(next) => Some(next),
                }
            }
            Err(error) => {
                // The release goes on; the message is posted on a later step.
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot post the status message");
                None
            }
        }
    }

    /// Brings the status message up to date, if it changed.
    pub(super) async fn refresh_status(&mut self, record: &DeploymentRecord) {
        let Some(id) = &record.status_message else {
            return;
        };
        let message = render::status_message(record, self.snapshot.as_ref(), &self.links(record));
        if self.rendered.as_ref() == Some(&message) {
            return;
        }
        let posted = PostedMessage {
            channel: record.channel.clone(),
            id: id.clone(),
        };
        match self.shared.chat.update(&posted, &message).await {
            Ok(()) => self.rendered = Some(message),
            Err(error) => {
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot update the status message; will retry");
            }
        }
    }

    async fn requested(&mut self, mut record: DeploymentRecord) -> Next {
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

    async fn before_start(&mut self, mut record: DeploymentRecord) -> Next {
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

    async fn start(&mut self, mut record: DeploymentRecord) -> Next {
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
        match self.shared.backend.start(&request).await {
            Ok(execution) => {
                self.retries = 0;
                record.execution = Some(execution);
                record.stage = Stage::Running;
                record.started_at = Some(self.shared.clock.now());
                match self.save(&record).await {
                    Ok(saved) => {
                        let event = self.audit_record(AuditAction::Started, &saved, "started");
                        self.shared.audit_after(event).await;
                        Next::Continue
                    }
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
