//! `SsmEmulator`: an in-process SSM Automation emulator on loopback,
//! speaking awsJson 1.1 like the real service, for tests and demos.
//!
//! It runs schema 0.3 documents on tokio's clock: `aws:sleep` sleeps for its
//! `Duration`, `aws:approve` waits for signals from its `Approvers` (matched
//! against the caller's IAM identity as SSM does, `MinRequiredApprovals` and
//! `timeoutSeconds` honoured), other actions take a configurable delay, and
//! steps can be told to fail. Stops go through `Cancelling`; start
//! parameters are checked against their declarations. Faults (throttling,
//! rate limits, 500s, latency, denied operations) can be injected, and every
//! call is recorded. STS `GetCallerIdentity` and IAM
//! `SimulatePrincipalPolicy` are answered on the same endpoint: every
//! action is allowed unless a test denies it ([`SsmEmulator::deny_action`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), chatdeploy_aws::emulator::EmulatorError> {
//! use chatdeploy_aws::SsmEmulator;
//!
//! let emulator = SsmEmulator::builder()
//!     .step_delay(std::time::Duration::from_millis(50))
//!     .start()
//!     .await?;
//! emulator.add_document("Deploy-App", "schemaVersion: '0.3'\nmainSteps:\n  - name: Run\n    action: aws:runCommand\n")?;
//! println!("endpoint: {}", emulator.url());
//! # Ok(())
//! # }
//! ```

mod approve;
mod builder;
mod clients;
mod control;
mod document;
mod documents;
mod faults;
mod filters;
mod iam;
mod listing;
mod ops;
mod paging;
mod params;
mod query;
mod ratelimit;
mod render;
mod runner;
mod server;
mod sts;
mod tags;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

pub(crate) use self::builder::Settings;
pub use self::builder::SsmEmulatorBuilder;
use self::document::Document;
use crate::permissions::PolicyDecision;

/// The caller the emulator attributes requests to by default.
pub const DEFAULT_CALLER_ARN: &str = "arn:aws:iam::123456789012:role/chatdeploy";

/// Why the emulator could not start or refused a document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// A document the emulator cannot run.
    #[error("invalid document {name}: {message}")]
    InvalidDocument {
        /// The document's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One request the emulator received (including ones it failed on purpose).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The operation, e.g. `StartAutomationExecution`.
    pub operation: String,
    /// The request body.
    pub body: Value,
    /// The IAM ARN the call was attributed to.
    pub caller: String,
}

#[derive(Debug)]
struct Inner {
    ops: ops::State,
    /// Whether recorded calls keep their request bodies.
    record_bodies: bool,
    settings: Settings,
    caller_arn: String,
    identities: HashMap<String, String>,
}

#[derive(Debug)]
struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An SSM Automation emulator on loopback; stops when dropped.
#[derive(Debug)]
pub struct SsmEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    // Dropping the sender stops the server.
    _stop: oneshot::Sender<()>,
}

impl SsmEmulator {
    /// A builder with the defaults.
    pub fn builder() -> SsmEmulatorBuilder {
        SsmEmulatorBuilder::default()
    }

    /// Starts one with the defaults.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Io`] when it cannot listen.
    pub async fn start() -> Result<Self, EmulatorError> {
        Self::builder().start().await
    }

    /// The endpoint URL for SDK clients, e.g. `http://127.0.0.1:38211`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates (or replaces) an Automation document from JSON or YAML.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidDocument`] when it is not a schema 0.3
    /// document with `mainSteps`.
    pub fn add_document(&self, name: &str, content: &str) -> Result<(), EmulatorError> {
        let doc = Document::parse(name, content, None, "Automation").map_err(|e| {
            EmulatorError::InvalidDocument {
                name: name.to_owned(),
                message: e.message,
            }
        })?;
        self.shared
            .lock()
            .ops
            .documents
            .insert(name.to_owned(), doc);
        Ok(())
    }

    /// Makes `step` of `document` fail with `message` when it ends (in
    /// executions running now and later).
    pub fn fail_step(&self, document: &str, step: &str, message: &str) {
        self.shared
            .lock()
            .ops
            .failures
            .insert((document.to_owned(), step.to_owned()), message.to_owned());
    }

    /// Fails a running execution at its current step with `message` (as an
    /// instance lost mid-run would); `false` when it does not exist or has
    /// ended. A process emulator takes the same as `POST
    /// /_emulator/fail-execution`.
    pub fn fail_execution(&self, execution: &str, message: &str) -> bool {
        control::fail(&self.shared, execution, message)
    }

    /// The next `n` calls fail with `ThrottlingException`.
    pub fn throttle_next(&self, n: usize) {
        self.shared.lock().ops.faults.throttle_next = n;
    }

    /// The next `n` calls fail with HTTP 500 `InternalServerError`.
    pub fn fail_next(&self, n: usize) {
        self.shared.lock().ops.faults.fail_next = n;
    }

    /// Every call waits `latency` before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().ops.faults.latency = latency;
    }

    /// Calls to `operation` (e.g. `StartAutomationExecution`) fail with
    /// `AccessDeniedException` (IAM's `AccessDenied` for
    /// `SimulatePrincipalPolicy`) until [`SsmEmulator::allow`]. A process
    /// emulator takes the same as `POST /_emulator/deny`.
    pub fn deny(&self, operation: &str) {
        self.shared
            .lock()
            .ops
            .faults
            .denied
            .insert(operation.to_owned());
    }

    /// `SimulatePrincipalPolicy` answers `implicitDeny` for the IAM
    /// `action` (e.g. `ssm:SendAutomationSignal`) on every resource, until
    /// [`SsmEmulator::allow_action`]. The calls themselves still succeed:
    /// this is what the simulation says, not what the emulator enforces.
    /// (To refuse the simulation itself, [`SsmEmulator::deny`]
    /// `SimulatePrincipalPolicy`: it then fails with IAM's `AccessDenied`.)
    pub fn deny_action(&self, action: &str) {
        self.set_policy_decision(action, PolicyDecision::ImplicitDeny);
    }

    /// Undoes [`SsmEmulator::deny_action`].
    pub fn allow_action(&self, action: &str) {
        self.set_policy_decision(action, PolicyDecision::Allowed);
    }

    /// What `SimulatePrincipalPolicy` answers for `action` on every
    /// resource from now on (e.g. [`PolicyDecision::ExplicitDeny`]). A
    /// process emulator takes the same as `POST /_emulator/policy`.
    pub fn set_policy_decision(&self, action: &str, decision: PolicyDecision) {
        self.shared.lock().ops.policy.decide(action, decision);
    }

    /// Undoes [`SsmEmulator::deny`].
    pub fn allow(&self, operation: &str) {
        self.shared.lock().ops.faults.denied.remove(operation);
    }

    /// Changes how long ordinary actions take.
    pub fn set_step_delay(&self, delay: Duration) {
        self.shared.lock().settings.step_delay = delay;
    }

    /// Attributes calls signed with `access_key` to the IAM ARN `arn` from
    /// now on (see [`SsmEmulatorBuilder::identity`]).
    pub fn set_identity(&self, access_key: &str, arn: &str) {
        self.shared
            .lock()
            .identities
            .insert(access_key.to_owned(), arn.to_owned());
    }

    /// Limits calls to `operation` to `per_second` a second with bursts of
    /// up to `burst` from now on (see [`SsmEmulatorBuilder::rate_limit`]).
    pub fn rate_limit(&self, operation: &str, per_second: f64, burst: u32) {
        let now = tokio::time::Instant::now();
        self.shared
            .lock()
            .ops
            .limits
            .set(operation, per_second, burst, now);
    }

    /// Lifts the rate limit on `operation`.
    pub fn clear_rate_limit(&self, operation: &str) {
        self.shared.lock().ops.limits.clear(operation);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().ops.calls.clone()
    }

    /// How many calls were made in all (including failed ones).
    pub fn total_calls(&self) -> usize {
        self.shared.lock().ops.calls.len()
    }

    /// How many calls to `operation` were made (including failed ones).
    pub fn call_count(&self, operation: &str) -> usize {
        self.shared
            .lock()
            .ops
            .calls
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// How many executions exist.
    pub fn executions(&self) -> usize {
        self.shared.lock().ops.executions.len()
    }

    /// The status of an execution (as SSM spells it) as of the last call that
    /// looked at it, if it exists.
    pub fn execution_status(&self, id: &str) -> Option<String> {
        let inner = self.shared.lock();
        inner
            .ops
            .executions
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.status.to_owned())
    }
}
