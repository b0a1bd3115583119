//! Finishing a release: outcome recorded, audited, added to history, lock
//! released, summary posted; each step safe to repeat after a restart.

use std::sync::Arc;

use crate::audit::AuditAction;
use crate::state::{Actor, DeploymentRecord, LockHolder, ReleaseRecord, Stage};

use super::messages;
use super::supervisor::{Activity, Next, Supervisor};

impl Supervisor {
    /// Finishes `record`, whose stage is the outcome. Stores the outcome
    /// first, so that a restart in the middle finishes the same way.
    pub(super) async fn finish(&mut self, mut record: DeploymentRecord) -> Next {
        let stored = match self.shared.state.deployment(&record.id).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Next::Done,
            Err(error) => {
                tracing::error!(%error, deployment = %self.id, "cannot read the release");
                return Next::Sleep(self.retry_delay(), Activity::Busy);
            }
        };
        if !stored.stage.is_terminal() {
            if stored.revision != record.revision {
                return Next::Continue;
            }
            record.ended_at = Some(self.shared.clock.now());
            record = match self.save(&record).await {
                Ok(saved) => saved,
                Err(next) => return next,
            };
        } else {
            record = stored;
        }
        let ended_at = record.ended_at.unwrap_or_else(|| self.shared.clock.now());

        let action = match record.stage {
            Stage::Succeeded => AuditAction::Succeeded,
            Stage::Rejected => AuditAction::Rejected,
            Stage::Cancelled => AuditAction::Cancelled,
            Stage::TimedOut => AuditAction::TimedOut,
            _ => AuditAction::Failed,
        };
        let mut event = self.audit_record(action, &record, "outcome");
        match record.ended_by() {
            Some(Actor::User(user)) => event.actor = Some(user),
            Some(Actor::Backend(principal)) => event.principal = Some(principal),
            None => {}
        }
        event.reason = record.end_reason();
        self.shared.audit_after(event).await;
        if let Some(why) = &record.bypassed {
            tracing::error!(deployment = %self.id, "approval bypassed: {why}");
            let mut event =
                self.audit_record(AuditAction::ApprovalBypassed, &record, "approval_bypassed");
            event.reason = Some(why.clone());
            self.shared.audit_after(event).await;
        }

        if let Err(error) = self
            .shared
            .state
            .append_history(&ReleaseRecord::from_finished(&record, ended_at))
            .await
        {
            tracing::error!(%error, deployment = %self.id, "cannot write history; retrying");
            return Next::Sleep(self.retry_delay(), Activity::Busy);
        }
        let holder = LockHolder::Release {
            deployment: record.id.clone(),
            version: record.version.clone(),
            requester: record.requester.clone(),
        };
        if let Err(error) = self.shared.state.unlock(&record.service, &holder).await {
            tracing::error!(%error, deployment = %self.id, "cannot release the lock; retrying");
            return Next::Sleep(self.retry_delay(), Activity::Busy);
        }

        // Chat cannot be fenced like a write: a replica that paused past its
        // lease in the steps above must find out here, before it edits the
        // thread or posts a second summary after the one its successor
        // posted.
        if !self.keep_lease().await {
            return Next::Done;
        }
        self.refresh_status(&record).await;
        self.refresh_approval_request(&record).await;
        let summary = messages::summary(&record, &self.links(&record), self.shared.clock.now());
        if !self.post_summary(&record, summary).await {
            return Next::Done;
        }

        record.finalized = true;
        match self.save(&record).await {
            // Counted once: only one save finalizes a release.
            Ok(saved) => {
                crate::metrics::release_finished(&self.shared.catalog, &saved);
                Next::Done
            }
            // Someone else changed it meanwhile: run the (repeatable)
            // finishing steps again on the fresh record.
            Err(next) => next,
        }
    }

    /// Posts the summary, retrying a chat outage a few times: the release
    /// is over either way, and the status message already says how.
    /// `false` when the lease was lost first (another replica finishes the
    /// release and posts the summary): nothing was posted.
    async fn post_summary(
        &mut self,
        record: &DeploymentRecord,
        summary: crate::chat::Message,
    ) -> bool {
        for attempt in 0..5u32 {
            let shared = Arc::clone(&self.shared);
            let posted = self
                .under_lease(shared.chat.post(&Self::thread(record), &summary))
                .await;
            match posted {
                None => return false,
                Some(Ok(_)) => return true,
                Some(Err(error)) => {
                    tracing::warn!(%error, hint = %error.hint(), attempt, deployment = %self.id, "cannot post the summary");
                    let delay = match &error {
                        crate::chat::ChatError::RateLimited {
                            retry_after: Some(after),
                        } => *after,
                        _ => self
                            .shared
                            .polling
                            .throttle_delay(attempt, self.id.as_str()),
                    };
                    // Renewing meanwhile: waiting out a rate limit longer
                    // than the lease must not hand the release to another
                    // replica, which would post the summary as well.
                    if !self.sleep_holding_lease(delay).await {
                        return false;
                    }
                }
            }
        }
        tracing::error!(deployment = %self.id, summary = %summary.text, "summary could not be posted");
        true
    }
}
