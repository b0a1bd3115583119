//! `SsmEmulatorBuilder`: what an emulator is started with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{DEFAULT_CALLER_ARN, EmulatorError, Inner, Shared, SsmEmulator, ops, server};
use crate::permissions::PolicyDecision;

/// The emulator's tunable behaviour, read on every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long actions other than `aws:sleep` and `aws:approve` take.
    pub(crate) step_delay: Duration,
    /// How long a stopped execution stays `Cancelling`.
    pub(crate) cancel_delay: Duration,
    /// How many tags `StartAutomationExecution` takes.
    pub(crate) max_execution_tags: usize,
    /// How many step executions `GetAutomationExecution` returns.
    pub(crate) max_step_executions_in_get: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            step_delay: Duration::from_secs(1),
            cancel_delay: Duration::from_millis(200),
            max_execution_tags: 5,
            max_step_executions_in_get: 100,
        }
    }
}

/// Configures an [`SsmEmulator`].
#[derive(Debug)]
#[must_use]
pub struct SsmEmulatorBuilder {
    record_bodies: bool,
    port: u16,
    settings: Settings,
    caller_arn: String,
    identities: HashMap<String, String>,
    documents: Vec<(String, String)>,
    rate_limits: Vec<(String, f64, u32)>,
    denied: Vec<String>,
    denied_actions: Vec<String>,
}

impl Default for SsmEmulatorBuilder {
    fn default() -> Self {
        Self {
            record_bodies: true,
            port: 0,
            settings: Settings::default(),
            caller_arn: DEFAULT_CALLER_ARN.to_owned(),
            identities: HashMap::new(),
            documents: Vec::new(),
            rate_limits: Vec::new(),
            denied: Vec::new(),
            denied_actions: Vec::new(),
        }
    }
}

impl SsmEmulatorBuilder {
    /// Whether [`SsmEmulator::calls`] keeps each request's body (default
    /// `true`); turn it off for long load runs, where the bodies would
    /// dominate the process's memory.
    pub fn record_bodies(mut self, record: bool) -> Self {
        self.record_bodies = record;
        self
    }

    /// The port to listen on (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How long actions other than `aws:sleep` and `aws:approve` take
    /// (default 1 s).
    pub fn step_delay(mut self, delay: Duration) -> Self {
        self.settings.step_delay = delay;
        self
    }

    /// How long a stopped execution stays `Cancelling` before it is
    /// `Cancelled` (default 200 ms, on tokio's clock).
    pub fn cancel_delay(mut self, delay: Duration) -> Self {
        self.settings.cancel_delay = delay;
        self
    }

    /// How many tags `StartAutomationExecution` accepts (default 5, SSM's
    /// documented limit); more fail with `ValidationException`.
    pub fn max_execution_tags(mut self, max: usize) -> Self {
        self.settings.max_execution_tags = max;
        self
    }

    /// How many step executions `GetAutomationExecution` returns before it
    /// sets `StepExecutionsTruncated` (default 100).
    pub fn max_step_executions_in_get(mut self, max: usize) -> Self {
        self.settings.max_step_executions_in_get = max;
        self
    }

    /// Limits calls to `operation` (e.g. `GetAutomationExecution`) to
    /// `per_second` a second, with bursts of up to `burst`; calls over the
    /// rate fail with `ThrottlingException`. Default: no limit.
    pub fn rate_limit(mut self, operation: impl Into<String>, per_second: f64, burst: u32) -> Self {
        self.rate_limits.push((operation.into(), per_second, burst));
        self
    }

    /// The IAM ARN calls are attributed to when their access key is not
    /// mapped (default [`DEFAULT_CALLER_ARN`]).
    pub fn caller_arn(mut self, arn: impl Into<String>) -> Self {
        self.caller_arn = arn.into();
        self
    }

    /// Attributes calls signed with `access_key` to `arn` (e.g. to have
    /// several approvers).
    pub fn identity(mut self, access_key: impl Into<String>, arn: impl Into<String>) -> Self {
        self.identities.insert(access_key.into(), arn.into());
        self
    }

    /// Calls to `operation` fail with `AccessDeniedException` (see
    /// [`SsmEmulator::deny`]); `SimulatePrincipalPolicy` to refuse the
    /// permission simulation.
    pub fn deny(mut self, operation: impl Into<String>) -> Self {
        self.denied.push(operation.into());
        self
    }

    /// `SimulatePrincipalPolicy` answers `implicitDeny` for the IAM
    /// `action` (see [`SsmEmulator::deny_action`]).
    pub fn deny_action(mut self, action: impl Into<String>) -> Self {
        self.denied_actions.push(action.into());
        self
    }

    /// A document to create at start (JSON or YAML).
    pub fn document(mut self, name: impl Into<String>, content: impl Into<String>) -> Self {
        self.documents.push((name.into(), content.into()));
        self
    }

    /// Binds 127.0.0.1 and serves in a background task until dropped.
    ///
    /// # Errors
    ///
    /// [`EmulatorError`] when a document is invalid or the port is taken.
    pub async fn start(self) -> Result<SsmEmulator, EmulatorError> {
        let mut ops = ops::State::default();
        for (operation, per_second, burst) in &self.rate_limits {
            ops.limits
                .set(operation, *per_second, *burst, Instant::now());
        }
        ops.faults.denied.extend(self.denied);
        for action in &self.denied_actions {
            ops.policy.decide(action, PolicyDecision::ImplicitDeny);
        }
        let shared = Arc::new(Shared(Mutex::new(Inner {
            ops,
            record_bodies: self.record_bodies,
            settings: self.settings,
            caller_arn: self.caller_arn,
            identities: self.identities,
        })));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "SSM emulator stopped");
            }
        });
        let emulator = SsmEmulator {
            shared,
            addr,
            _stop: stop,
        };
        for (name, content) in self.documents {
            emulator.add_document(&name, &content)?;
        }
        Ok(emulator)
    }
}
