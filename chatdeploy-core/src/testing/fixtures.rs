//! Small fixtures shared by benchmarks and tests.

use async_trait::async_trait;

use crate::audit::{AuditError, AuditEvent, AuditSink};

/// A catalog with one service, `app` (an `aws:approve` document, so every
/// release waits for an approver), deploy channel `C0DEPLOY`, deployer
/// `U0ALICE` and approver `U0BOB`.
pub const ONE_SERVICE_CATALOG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]
[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}" }
"#;

/// An audit sink that accepts every record and keeps none: for measuring
/// the engine without the disk (a durable sink fsyncs each record).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullAuditSink;

#[async_trait]
impl AuditSink for NullAuditSink {
    async fn record(&self, _: &AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}
