//! The approval request message of a wait: posted once, kept up to date.

use std::sync::Arc;

use crate::audit::AuditAction;
use crate::chat::{Message, PostedMessage};
use crate::state::{ApprovalState, DeploymentRecord};

use super::messages;
use super::supervisor::{Activity, Next, Supervisor};

impl Supervisor {
    /// When an undecided wait times out in chatdeploy.
    pub(super) fn approval_deadline(&self, wait: &ApprovalState) -> chrono::DateTime<chrono::Utc> {
        messages::add_duration(wait.requested_at, self.shared.catalog.approval().timeout())
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

    fn approval_message(&self, record: &DeploymentRecord, wait: &ApprovalState) -> Message {
        messages::approval_request(
            record,
            wait,
            &self.shared.policy.approvers(&record.service),
            self.shared
                .policy
                .required_approvals(&record.service)
                .max(1),
            self.approval_deadline(wait),
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
        let shared = Arc::clone(&self.shared);
        match self
            .under_lease(shared.chat.update(&posted, &message))
            .await
        {
            None => {}
            Some(Ok(())) => self.rendered_request = Some(message.fingerprint()),
            Some(Err(error)) => {
                tracing::warn!(%error, hint = %error.hint(), deployment = %self.id, "cannot update the approval request; will retry");
            }
        }
    }
}
