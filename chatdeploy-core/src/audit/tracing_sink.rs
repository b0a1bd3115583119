//! An audit sink that emits each record as a `tracing` event.

use async_trait::async_trait;

use super::{AuditError, AuditEvent, AuditSink};

/// An [`AuditSink`] that logs each record at INFO on the `chatdeploy::audit`
/// target, as one JSON field. It is not durable on its own: pair it with a
/// file or database sink in a [`super::FanOutAuditSink`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAuditSink;

#[async_trait]
impl AuditSink for TracingAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let json =
            serde_json::to_string(event).map_err(|source| AuditError::Serialize { source })?;
        tracing::info!(target: "chatdeploy::audit", action = ?event.action, record = %json, "audit");
        Ok(())
    }
}
