//! Building an [`Engine`] from its parts.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{Clock, Engine, PollPolicy, Port, Shared};
use crate::audit::AuditSink;
use crate::backend::DeployBackend;
use crate::catalog::Catalog;
use crate::chat::ChatSurface;
use crate::policy::{ActionPolicy, ApproverPolicy, StaticPolicy};
use crate::state::StateStore;

/// How long a release's lease holds unless renewed, unless configured.
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// Backend calls in flight at once unless configured.
const DEFAULT_BACKEND_CONCURRENCY: usize = 16;

/// The longest one backend call may take unless configured: above the SDK's
/// own retries, so it only catches calls that hang.
const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(90);

/// A part the engine cannot run without was not given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildEngineError {
    /// A required part is missing.
    #[error("the engine needs {part}: call EngineBuilder::{method}")]
    Missing {
        /// The part, e.g. `a catalog`.
        part: &'static str,
        /// The builder method that provides it.
        method: &'static str,
    },
}

/// Builds an [`Engine`]. The catalog, chat surface, backend, audit sink and
/// state store are required; both policies default to
/// [`StaticPolicy::from_catalog`], polling to [`PollPolicy::default`].
#[derive(Default)]
pub struct EngineBuilder {
    catalog: Option<Arc<Catalog>>,
    chat: Option<Arc<dyn ChatSurface>>,
    backend: Option<Arc<dyn DeployBackend>>,
    policy: Option<Arc<dyn ApproverPolicy>>,
    access: Option<Arc<dyn ActionPolicy>>,
    audit: Option<Arc<dyn AuditSink>>,
    state: Option<Arc<dyn StateStore>>,
    polling: Option<PollPolicy>,
    dedupe_ttl: Option<Duration>,
    backend_concurrency: Option<usize>,
    backend_timeout: Option<Duration>,
    replica: Option<String>,
    lease_ttl: Option<Duration>,
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("catalog", &self.catalog.is_some())
            .field("chat", &self.chat.is_some())
            .field("backend", &self.backend.is_some())
            .field("policy", &self.policy.is_some())
            .field("access", &self.access.is_some())
            .field("audit", &self.audit.is_some())
            .field("state", &self.state.is_some())
            .field("polling", &self.polling)
            .finish()
    }
}

impl EngineBuilder {
    /// The validated configuration.
    #[must_use]
    pub fn with_catalog(mut self, catalog: impl Into<Arc<Catalog>>) -> Self {
        self.catalog = Some(catalog.into());
        self
    }

    /// Where the bot talks.
    #[must_use]
    pub fn with_chat(mut self, chat: Arc<dyn ChatSurface>) -> Self {
        self.chat = Some(chat);
        self
    }

    /// What runs releases.
    #[must_use]
    pub fn with_backend(mut self, backend: Arc<dyn DeployBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Who approves and how many approvals a release needs (default: the
    /// catalog's [`StaticPolicy`]).
    #[must_use]
    pub fn with_policy(mut self, policy: Arc<dyn ApproverPolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Who may do each mutating action (default: the catalog's
    /// [`StaticPolicy`]).
    #[must_use]
    pub fn with_action_policy(mut self, access: Arc<dyn ActionPolicy>) -> Self {
        self.access = Some(access);
        self
    }

    /// Where audit records go.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Where state lives.
    #[must_use]
    pub fn with_state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.state = Some(state);
        self
    }

    /// How often executions are polled.
    #[must_use]
    pub fn with_polling(mut self, polling: PollPolicy) -> Self {
        self.polling = Some(polling);
        self
    }

    /// How many backend calls may be in flight at once, across all releases
    /// (default 16).
    #[must_use]
    pub fn with_backend_concurrency(mut self, calls: usize) -> Self {
        self.backend_concurrency = Some(calls.max(1));
        self
    }

    /// The longest one backend call may take before it counts as failed
    /// and is retried (default 90 s).
    #[must_use]
    pub fn with_backend_timeout(mut self, timeout: Duration) -> Self {
        self.backend_timeout = Some(timeout);
        self
    }

    /// This replica's name as an owner of release leases: unique among the
    /// processes sharing a state store (default: random per engine). A
    /// process restarted with the same name takes its releases back at once;
    /// others wait for the lease to lapse.
    #[must_use]
    pub fn with_replica_id(mut self, replica: impl Into<String>) -> Self {
        self.replica = Some(replica.into());
        self
    }

    /// How long a release's lease holds unless renewed (default 30 s): a
    /// dead replica's releases are taken over after this, plus at most
    /// 5 s. Supervisors renew after a third of it.
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl.max(Duration::from_secs(1)));
        self
    }

    /// How long inbound event IDs are remembered (default 24 hours).
    #[must_use]
    pub fn with_dedupe_ttl(mut self, ttl: Duration) -> Self {
        self.dedupe_ttl = Some(ttl);
        self
    }

    /// The engine.
    ///
    /// # Errors
    ///
    /// [`BuildEngineError::Missing`] naming the first missing part.
    pub fn build(self) -> Result<Engine, BuildEngineError> {
        fn need<T>(
            part: Option<T>,
            what: &'static str,
            method: &'static str,
        ) -> Result<T, BuildEngineError> {
            part.ok_or(BuildEngineError::Missing { part: what, method })
        }
        let catalog = need(self.catalog, "a catalog", "with_catalog")?;
        let chat = need(self.chat, "a chat surface", "with_chat")?;
        let backend = need(self.backend, "a deploy backend", "with_backend")?;
        let audit = need(self.audit, "an audit sink", "with_audit")?;
        let state = need(self.state, "a state store", "with_state")?;
        let fixed = || Arc::new(StaticPolicy::from_catalog(&catalog, Arc::clone(&chat)));
        let (policy, access): (Arc<dyn ApproverPolicy>, Arc<dyn ActionPolicy>) =
            match (self.policy, self.access) {
                (Some(policy), Some(access)) => (policy, access),
                (Some(policy), None) => (policy, fixed()),
                (None, Some(access)) => (fixed(), access),
                (None, None) => {
                    let both = fixed();
                    (both.clone(), both)
                }
            };
        let (shutdown, _) = watch::channel(false);
        Ok(Engine {
            shared: Arc::new(Shared {
                catalog,
                chat: Port(chat),
                backend: Port(backend),
                policy: Port(policy),
                access: Port(access),
                audit: Port(audit),
                state: Port(state),
                polling: self.polling.unwrap_or_default(),
                backend_permits: tokio::sync::Semaphore::new(
                    self.backend_concurrency
                        .unwrap_or(DEFAULT_BACKEND_CONCURRENCY),
                ),
                backend_timeout: self.backend_timeout.unwrap_or(DEFAULT_BACKEND_TIMEOUT),
                dedupe_ttl: self.dedupe_ttl.unwrap_or(Duration::from_secs(24 * 3600)),
                clock: Clock::new(),
                supervisors: Mutex::new(HashMap::new()),
                replica: self.replica.unwrap_or_else(|| {
                    format!(
                        "replica-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..12]
                    )
                }),
                lease_ttl: self.lease_ttl.unwrap_or(DEFAULT_LEASE_TTL),
                shutdown,
            }),
        })
    }
}
