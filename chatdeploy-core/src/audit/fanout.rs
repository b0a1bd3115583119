//! An audit sink that writes to several sinks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::{AuditError, AuditEvent, AuditSink};

/// An [`AuditSink`] that writes every record to each of its sinks in order.
///
/// Every sink is tried even when one fails, and the first error is
/// returned, so the caller fails closed while the other sinks still hold
/// the record.
#[derive(Clone, Default)]
pub struct FanOutAuditSink {
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl fmt::Debug for FanOutAuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutAuditSink")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl FanOutAuditSink {
    /// A sink writing to no sink yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sink.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }
}

#[async_trait]
impl AuditSink for FanOutAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut first_error = None;
        for sink in &self.sinks {
            if let Err(error) = sink.record(event).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditAction, InMemoryAuditSink};

    #[tokio::test]
    async fn writes_everywhere_and_reports_a_failure() {
        let broken = Arc::new(InMemoryAuditSink::new());
        broken.set_failing(true);
        let healthy = Arc::new(InMemoryAuditSink::new());
        let fanout = FanOutAuditSink::new()
            .with_sink(broken.clone())
            .with_sink(healthy.clone());
        let event = AuditEvent::new(AuditAction::Locked, None);
        assert!(fanout.record(&event).await.is_err());
        assert_eq!(healthy.events(), vec![event]);
    }
}
