//! Watching a running execution: adaptive polling, reads that keep
//! failing and statuses chatdeploy does not know (both said in the thread,
//! never retried silently forever), and cancellation.

use crate::backend::{BackendError, ExecutionSnapshot, ExecutionStatus};
use crate::chat::{Message, Text, Tone};
use crate::ids::ExecutionId;
use crate::state::{DeploymentRecord, Stage, WatchProblem};

use super::messages;
use super::supervisor::{Activity, Next, Supervisor};

/// Failed reads in a row before a refused read (access denied, expired
/// credentials) is said in the thread.
const REFUSED_READS_BEFORE_NOTICE: u32 = 3;

/// Failed reads in a row before an outage or throttling is said in the
/// thread (with backoff, several minutes).
const FAILED_READS_BEFORE_NOTICE: u32 = 8;

impl Supervisor {
    pub(super) async fn watch(&mut self, mut record: DeploymentRecord) -> Next {
        let Some(execution) = record.execution.clone() else {
            record.stage = Stage::Starting;
            return self
                .save(&record)
                .await
                .map_or_else(|next| next, |_| Next::Continue);
        };
        if record.cancelled_by.is_some()
            && !self.cancel_sent
            && let Some(next) = self.send_cancel(&execution).await
        {
            return next;
        }
        let snapshot = match self.read(&mut record, &execution).await {
            Ok(snapshot) => snapshot,
            Err(next) => return next,
        };
        if let Some(next) = self.report_problem(&mut record).await {
            return next;
        }
        let changed = self.snapshot.as_ref() != Some(&snapshot);
        self.snapshot = Some(snapshot.clone());

        if snapshot.status.is_terminal() {
            return self.ended(record, &snapshot).await;
        }
        if let ExecutionStatus::Unknown(status) = &snapshot.status {
            return self.unknown_status(record, status, &execution).await;
        }
        if record
            .watch_problem
            .as_ref()
            .is_some_and(|p| p.status.is_some())
        {
            // The status is one chatdeploy knows again.
            return self.clear_problem(record, &execution).await;
        }
        if let Some(next) = self.follow_approval(record.clone(), &snapshot).await {
            return next;
        }
        self.refresh_status(&record).await;
        let waiting = snapshot.waiting_for_approval.is_some();
        self.interval = self
            .shared
            .polling
            .next_interval(self.interval, changed, waiting);
        let activity = if waiting {
            Activity::WaitingOnPerson
        } else {
            Activity::Busy
        };
        Next::Sleep(self.interval, activity)
    }

    /// Sends the stop asked for in chat; `Some` to retry later.
    async fn send_cancel(&mut self, execution: &ExecutionId) -> Option<Next> {
        let stop = self.shared.backend.cancel(execution);
        match self.shared.backend_call("cancel", stop).await {
            // Already finished or stopping: nothing left to stop.
            Ok(()) | Err(BackendError::InvalidState { .. } | BackendError::NotFound { .. }) => {
                self.cancel_sent = true;
                None
            }
            Err(error) if error.is_retryable() => {
                Some(Next::Sleep(self.retry_delay(), Activity::Busy))
            }
            Err(error) => {
                // The watch goes on and reports whatever the backend says.
                tracing::error!(%error, deployment = %self.id, "cannot stop the execution");
                self.cancel_sent = true;
                None
            }
        }
    }

    /// Reads the execution. Failures are retried with backoff; after a
    /// few in a row the problem is recorded, to be said in the thread.
    async fn read(
        &mut self,
        record: &mut DeploymentRecord,
        execution: &ExecutionId,
    ) -> Result<ExecutionSnapshot, Next> {
        let polled = self.shared.backend.snapshot(execution);
        match self.shared.backend_call("snapshot", polled).await {
            Ok(snapshot) => {
                self.retries = 0;
                self.read_failures = 0;
                if record
                    .watch_problem
                    .as_ref()
                    .is_some_and(|p| p.status.is_none())
                {
                    return Err(self.clear_problem(record.clone(), execution).await);
                }
                Ok(snapshot)
            }
            Err(BackendError::NotFound { .. }) => {
                record.stage = Stage::Failed;
                record.failure = Some(format!("Execution {execution} no longer exists."));
                Err(self.finish(record.clone()).await)
            }
            Err(error) => {
                tracing::warn!(%error, deployment = %self.id, "cannot read the execution; retrying");
                self.read_failures = self.read_failures.saturating_add(1);
                let limit = if error.is_retryable() {
                    FAILED_READS_BEFORE_NOTICE
                } else {
                    REFUSED_READS_BEFORE_NOTICE
                };
                let delay = if error.is_retryable() {
                    self.retry_delay()
                } else {
                    self.shared.polling.slow
                };
                if self.read_failures >= limit && record.watch_problem.is_none() {
                    record.watch_problem = Some(WatchProblem {
                        since: self.shared.clock.now(),
                        message: format!(
                            "chatdeploy cannot read execution {execution}: {} The release may \
                             still be running; check it in the AWS console. chatdeploy keeps \
                             trying.",
                            error.user_message()
                        ),
                        posted: false,
                        status: None,
                    });
                    *record = self.save(record).await?;
                    if let Some(next) = self.report_problem(record).await {
                        return Err(next);
                    }
                }
                Err(Next::Sleep(delay, Activity::Busy))
            }
        }
    }

    /// Posts a recorded watch problem in the thread once; `Some` when the
    /// record changed (re-read and go on).
    async fn report_problem(&mut self, record: &mut DeploymentRecord) -> Option<Next> {
        let problem = record.watch_problem.as_ref().filter(|p| !p.posted)?;
        let message =
            Message::text(Text::plain(problem.message.clone())).with_tone(Tone::Attention);
        if let Err(error) = self.shared.chat.post(&Self::thread(record), &message).await {
            tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot post the watch problem; will retry");
            return None;
        }
        if let Some(problem) = record.watch_problem.as_mut() {
            problem.posted = true;
        }
        match self.save(record).await {
            Ok(saved) => {
                *record = saved;
                self.refresh_status(record).await;
                None
            }
            Err(next) => Some(next),
        }
    }

    /// The problem is over: say so if it was said, and forget it.
    async fn clear_problem(
        &mut self,
        mut record: DeploymentRecord,
        execution: &ExecutionId,
    ) -> Next {
        let Some(problem) = record.watch_problem.take() else {
            return Next::Continue;
        };
        if problem.posted {
            let text = format!("chatdeploy can read execution {execution} again.");
            self.shared
                .say(
                    &Self::thread(&record),
                    &Message::text(Text::plain(text)).with_tone(Tone::Info),
                )
                .await;
        }
        match self.save(&record).await {
            Ok(_) => Next::Continue,
            Err(next) => next,
        }
    }

    /// A status chatdeploy does not know: say so, keep watching until the
    /// deadline, then report the release as failed with what is known.
    async fn unknown_status(
        &mut self,
        mut record: DeploymentRecord,
        status: &str,
        execution: &ExecutionId,
    ) -> Next {
        let now = self.shared.clock.now();
        let deadline = self.shared.polling.unknown_status_deadline;
        match &record.watch_problem {
            Some(problem) if problem.status.as_deref() == Some(status) => {
                let until = messages::add_duration(problem.since, deadline);
                if now < until {
                    let wait = self.shared.clock.until(until).min(self.shared.polling.slow);
                    return Next::Sleep(wait, Activity::Busy);
                }
                record.stage = Stage::Failed;
                record.failure = Some(format!(
                    "Execution {execution} reports status {status}, which chatdeploy cannot \
                     read as success or failure, and it did not change for {}; check the \
                     execution in the AWS console.",
                    messages::format_duration(deadline)
                ));
                record.watch_problem = None;
                self.finish(record).await
            }
            _ => {
                record.watch_problem = Some(WatchProblem {
                    since: now,
                    message: format!(
                        "AWS reports status {status} for execution {execution}, which \
                         chatdeploy does not know. It keeps watching until {} and then \
                         reports the release as failed; check the execution in the AWS console.",
                        messages::format_time(messages::add_duration(now, deadline))
                    ),
                    posted: false,
                    status: Some(status.to_owned()),
                });
                match self.save(&record).await {
                    Ok(_) => Next::Continue,
                    Err(next) => next,
                }
            }
        }
    }
}
