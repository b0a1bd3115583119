//! An in-memory audit sink for tests, demos and embedding, with failure
//! injection under feature `fake`.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{AuditAction, AuditError, AuditEvent, AuditSink};

#[derive(Debug, Default)]
struct Inner {
    events: Vec<AuditEvent>,
    ids: HashSet<String>,
    /// Records offered, repeats included, by action.
    offered: Vec<AuditAction>,
    failing: bool,
    failing_actions: HashSet<AuditAction>,
}

/// An [`AuditSink`] that keeps records in memory; with feature `fake` it
/// can be told to fail.
#[derive(Debug, Default)]
pub struct InMemoryAuditSink {
    inner: Mutex<Inner>,
}

impl InMemoryAuditSink {
    /// An empty sink that accepts every record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record written so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.lock().events.clone()
    }

    /// The actions of every record so far, in order.
    pub fn actions(&self) -> Vec<AuditAction> {
        self.lock().events.iter().map(|e| e.action).collect()
    }

    /// How many times a record of `action` was offered, repeats of an ID
    /// included: what a non-durable sink such as the log would show.
    pub fn offered(&self, action: AuditAction) -> usize {
        self.lock().offered.iter().filter(|a| **a == action).count()
    }

    /// While `true`, every record fails with [`AuditError::Unavailable`]
    /// (feature `fake`).
    #[cfg(any(test, feature = "fake"))]
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Makes records of these actions fail, and only those (feature
    /// `fake`).
    #[cfg(any(test, feature = "fake"))]
    pub fn fail_actions(&self, actions: &[AuditAction]) {
        self.lock().failing_actions = actions.iter().copied().collect();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl AuditSink for InMemoryAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut inner = self.lock();
        if inner.failing || inner.failing_actions.contains(&event.action) {
            return Err(AuditError::Unavailable {
                sink: "in-memory".into(),
                message: format!("set to fail {:?} records", event.action),
            });
        }
        inner.offered.push(event.action);
        if inner.ids.insert(event.id.clone()) {
            inner.events.push(event.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_records_and_fails_on_demand() {
        let sink = InMemoryAuditSink::new();
        let requested = AuditEvent::new(AuditAction::Requested, None);
        sink.record(&requested).await.unwrap();
        sink.fail_actions(&[AuditAction::Started]);
        assert!(
            sink.record(&AuditEvent::new(AuditAction::Started, None))
                .await
                .is_err()
        );
        sink.record(&AuditEvent::new(AuditAction::Requested, None))
            .await
            .unwrap();
        sink.record(&requested).await.unwrap();
        sink.set_failing(true);
        assert!(sink.record(&requested).await.is_err());
        assert_eq!(
            sink.actions(),
            vec![AuditAction::Requested, AuditAction::Requested]
        );
    }
}
