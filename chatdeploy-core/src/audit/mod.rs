//! The [`AuditSink`] trait: the record of every request, decision and
//! outcome.
//!
//! The engine writes the record of a mutating action *before* acting, and
//! does not act when the record cannot be written (fail closed).

#[cfg(any(test, feature = "fake"))]
pub mod contract;
mod event;
mod fanout;
mod jsonl;
mod memory;
mod tracing_sink;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use event::{AuditAction, AuditEvent};
pub use fanout::FanOutAuditSink;
pub use jsonl::{JsonlAuditSink, JsonlAuditSinkBuilder};
pub use memory::InMemoryAuditSink;
pub use tracing_sink::TracingAuditSink;

/// Why an audit record could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The audit file could not be opened or written.
    #[error("could not write the audit log {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The audit file could not be rotated (moved aside for a new one); the
    /// record was not written.
    #[error("could not rotate the audit log {path}; the record was not written")]
    Rotate {
        /// The current file.
        path: PathBuf,
        /// The name it was being moved to, once chosen.
        to: Option<PathBuf>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A sink was configured with an option it cannot work with.
    #[error("invalid audit sink option {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The event could not be serialised.
    #[error("could not serialise the audit event")]
    Serialize {
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
    /// The sink refused or could not be reached.
    #[error("audit sink {sink} is unavailable: {message}")]
    Unavailable {
        /// Which sink.
        sink: String,
        /// What happened.
        message: String,
    },
}

impl AuditError {
    /// One sentence for the person whose action was not carried out.
    pub fn user_message(&self) -> &'static str {
        "The audit log cannot be written right now, so nothing was done; try again shortly \
         or tell the platform team."
    }
}

/// Where audit records go.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Writes one record durably: when this returns `Ok`, the record
    /// survives a crash of the process. A record whose
    /// [`id`](AuditEvent::id) the sink already holds is accepted without
    /// being written again, so replaying a step after a restart leaves one
    /// record.
    ///
    /// # Errors
    ///
    /// [`AuditError`] when the record could not be written; it is never
    /// swallowed, and the caller must not carry out a mutating action whose
    /// record failed.
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;
}

macro_rules! forward_audit_sink {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: AuditSink + ?Sized> AuditSink for $ptr {
            async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
                (**self).record(event).await
            }
        }
    };
}
forward_audit_sink!(Arc<T>);
forward_audit_sink!(Box<T>);
