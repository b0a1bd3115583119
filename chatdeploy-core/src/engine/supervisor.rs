//! One task per release: reconciles the stored record with the backend until
//! the release is finished, and is restartable at every step (each step
//! re-reads the record, acts, and records what it did).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::audit::{AuditAction, AuditEvent};
use crate::backend::ExecutionSnapshot;
use crate::catalog::TemplateContext;
use crate::chat::{Conversation, PostedMessage};
use crate::ids::DeploymentId;
use crate::metrics::{self, InFlight};
use crate::state::{DeploymentRecord, Lease, Stage, StateError};

use super::messages::{self, Links};
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
        if let Some(handle) = supervisors.get(&id)
            && *handle.activity.borrow() != Activity::Done
        {
            handle.activity.send_replace(Activity::Busy);
            handle.wake.notify_one();
            return;
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
        read_failures: 0,
        cancel_sent: false,
        lease: None,
        renew_not_before: None,
        // A fresh release's request was audited by the command handler
        // just now; a resumed one may have died before that.
        request_audited: !resumed,
        in_flight: None,
        counted_wait: None,
    };
    tokio::spawn(async move {
        if supervisor.acquire().await {
            if resumed {
                supervisor.audit_resumed().await;
            }
            supervisor.run().await;
            supervisor.give_up_lease().await;
        }
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
    /// The fingerprint of the status message as last delivered, to skip
    /// needless updates without keeping a copy per release.
    pub(super) rendered: Option<u64>,
    /// The fingerprint of the approval request as last delivered.
    pub(super) rendered_request: Option<u64>,
    /// The current polling interval.
    pub(super) interval: Duration,
    /// Consecutive retryable failures (throttling, outages).
    pub(super) retries: u32,
    /// Consecutive failed reads of the execution.
    pub(super) read_failures: u32,
    /// A stop was sent to the backend (in this process).
    pub(super) cancel_sent: bool,
    /// This replica's lease on the release, while it holds it.
    pub(super) lease: Option<Lease>,
    /// No renewal is tried before this after one failed for an outage, so
    /// that waiting on the lease does not spin while the store is away.
    pub(super) renew_not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether this process wrote the request's audit record already (so
    /// that it is written, and logged, once).
    pub(super) request_audited: bool,
    /// Counts the release in the releases-in-flight gauge while this
    /// supervisor drives it.
    in_flight: Option<InFlight>,
    /// The last approval wait whose end is counted (or was found ended),
    /// so that each wait's duration is observed once.
    counted_wait: Option<WaitIdentity>,
}

/// Which approval wait: its key and when it was opened.
type WaitIdentity = (String, chrono::DateTime<chrono::Utc>);

/// The identity of `record`'s approval wait, if it has ended.
fn ended_wait(record: &DeploymentRecord) -> Option<WaitIdentity> {
    record
        .approval
        .as_ref()
        .filter(|wait| !wait.is_open())
        .map(|wait| (wait.key.clone(), wait.requested_at))
}

impl Supervisor {
    async fn run(&mut self) {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            if *shutdown.borrow() || !self.keep_lease().await {
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
            if self.in_flight.is_none() {
                let service = metrics::service_label(&self.shared.catalog, &record.service);
                self.in_flight = Some(InFlight::new(service));
                // A wait that ended before this supervisor (or process)
                // took over was counted by whoever ended it.
                self.counted_wait = ended_wait(&record);
            }
            match self.step(record).await {
                Next::Continue => {}
                Next::Sleep(delay, activity) => self.pause(delay, activity, &mut shutdown).await,
                Next::Done => return,
            }
        }
    }

    /// Sleeps `delay` (or until woken), renewing the lease on time
    /// meanwhile; a lost lease ends the sleep (the loop then stops).
    async fn pause(
        &mut self,
        delay: Duration,
        activity: Activity,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        self.activity.send_replace(activity);
        let until = tokio::time::Instant::now() + delay;
        loop {
            let renewal = tokio::time::Instant::now() + self.until_renewal();
            tokio::select! {
                () = tokio::time::sleep_until(until.min(renewal)) => {}
                () = self.wake.notified() => break,
                _ = shutdown.changed() => break,
            }
            if tokio::time::Instant::now() >= until || !self.keep_lease().await {
                break;
            }
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
        if record.status_message.is_none()
            && !record.stage.is_terminal()
            && let Some(next) = self.post_status(&record).await
        {
            return next;
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

    /// Stores `record`, fenced by this replica's lease; a lost race or an
    /// outage means "re-read and retry", a lost lease "stop at once".
    pub(super) async fn save(
        &mut self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, Next> {
        let saved = match self.fence() {
            Ok(lease) => {
                let now = self.shared.clock.now();
                self.shared.state.update_fenced(record, lease, now).await
            }
            Err(lost) => Err(lost),
        };
        match saved {
            Ok(saved) => {
                self.count_ended_wait(&saved);
                Ok(saved)
            }
            Err(StateError::Conflict { .. }) => Err(Next::Continue),
            Err(StateError::LeaseLost { .. }) => {
                tracing::warn!(deployment = %self.id, replica = %self.shared.replica, "the lease is gone; another replica acts on the release now");
                self.lease = None;
                Err(Next::Done)
            }
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "cannot store the release");
                Err(Next::Sleep(self.retry_delay(), Activity::Busy))
            }
        }
    }

    /// Observes the duration of `saved`'s approval wait once it is stored
    /// as ended: once per wait, however often its end is written.
    fn count_ended_wait(&mut self, saved: &DeploymentRecord) {
        let Some(identity) = ended_wait(saved) else {
            return;
        };
        if self.counted_wait.as_ref() == Some(&identity) {
            return;
        }
        if let Some(end) = saved.approval.as_ref().and_then(|w| w.ended.as_ref()) {
            metrics::approval_wait_ended(
                &self.shared.catalog,
                saved,
                identity.1,
                end,
                self.shared.clock.now(),
            );
        }
        self.counted_wait = Some(identity);
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
        let mut event = AuditEvent::identified(format!("{}:{key}", record.id), action, None);
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
        let message = messages::status_message(record, self.snapshot.as_ref(), &self.links(record));
        // Posts are not fenced like writes: only the lease holder posts.
        let shared = Arc::clone(&self.shared);
        let Some(posted) = self
            .under_lease(shared.chat.post(&Self::thread(record), &message))
            .await
        else {
            return Some(Next::Done);
        };
        match posted {
            Ok(posted) => {
                let mut next = record.clone();
                next.status_message = Some(posted.id);
                match self.save(&next).await {
                    Ok(_) => {
                        self.rendered = Some(message.fingerprint());
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
        let message = messages::status_message(record, self.snapshot.as_ref(), &self.links(record));
        if self.rendered == Some(message.fingerprint()) {
            return;
        }
        let posted = PostedMessage {
            channel: record.channel.clone(),
            id: id.clone(),
        };
        // Edits are not fenced like writes: only the lease holder edits.
        let shared = Arc::clone(&self.shared);
        match self
            .under_lease(shared.chat.update(&posted, &message))
            .await
        {
            None => {}
            Some(Ok(())) => self.rendered = Some(message.fingerprint()),
            Some(Err(error)) => {
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot update the status message; will retry");
            }
        }
    }
}
