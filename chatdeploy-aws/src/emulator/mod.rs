//! `SsmEmulator`: an in-process SSM Automation emulator on loopback,
//! speaking awsJson 1.1 like the real service, for tests and demos.
//!
//! It runs schema 0.3 documents on tokio's clock: `aws:sleep` sleeps for its
//! `Duration`, `aws:approve` waits for signals from its `Approvers`
//! (`MinRequiredApprovals` honoured), other actions take a configurable
//! delay, and steps can be told to fail. Faults (throttling, 500s, latency,
//! denied operations) can be injected, and every call is recorded.
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

mod document;
mod faults;
mod ops;
mod render;
mod runner;
mod server;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use self::document::Document;

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
    step_delay: Duration,
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

/// Configures an [`SsmEmulator`].
#[derive(Debug)]
#[must_use]
pub struct SsmEmulatorBuilder {
    record_bodies: bool,
    port: u16,
    step_delay: Duration,
    caller_arn: String,
    identities: HashMap<String, String>,
    documents: Vec<(String, String)>,
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
        self.step_delay = delay;
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
        let shared = Arc::new(Shared(Mutex::new(Inner {
            ops: ops::State::default(),
            record_bodies: self.record_bodies,
            step_delay: self.step_delay,
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
        SsmEmulatorBuilder {
            record_bodies: true,
            port: 0,
            step_delay: Duration::from_secs(1),
            caller_arn: DEFAULT_CALLER_ARN.to_owned(),
            identities: HashMap::new(),
            documents: Vec::new(),
        }
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

    /// A real SDK client for this emulator: static test credentials with
    /// the access key `test`, region `us-east-1`, quick retries.
    pub fn client(&self) -> aws_sdk_ssm::Client {
        self.client_as("test")
    }

    /// Like [`SsmEmulator::client`], with another access key (map it to an
    /// IAM identity with [`SsmEmulatorBuilder::identity`]).
    pub fn client_as(&self, access_key: &str) -> aws_sdk_ssm::Client {
        use aws_sdk_ssm::config::retry::RetryConfig;
        use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::https_client())
            .endpoint_url(self.url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access_key, "test", None, None, "emulator"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(5))
                    .with_max_backoff(Duration::from_millis(50)),
            )
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// An [`SsmBackend`](crate::SsmBackend) on the real SDK, talking to this
    /// emulator.
    pub fn backend(&self) -> crate::SsmBackend {
        crate::SsmBackend::from_client(self.client(), "us-east-1")
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
    /// `AccessDeniedException` until [`SsmEmulator::allow`].
    pub fn deny(&self, operation: &str) {
        self.shared
            .lock()
            .ops
            .faults
            .denied
            .insert(operation.to_owned());
    }

    /// Undoes [`SsmEmulator::deny`].
    pub fn allow(&self, operation: &str) {
        self.shared.lock().ops.faults.denied.remove(operation);
    }

    /// Changes how long ordinary actions take.
    pub fn set_step_delay(&self, delay: Duration) {
        self.shared.lock().step_delay = delay;
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
