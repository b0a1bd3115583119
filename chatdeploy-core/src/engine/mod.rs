//! The engine: takes [`ChatEvent`]s and drives each release through its
//! lifecycle with the five traits.
//!
//! ```text
//! Requested -> (AwaitingApproval, if before_start) -> Starting -> Running
//!   -> AwaitingApproval (document's approval step) -> Running
//!   -> Succeeded | Failed | Rejected | Cancelled | TimedOut
//! ```
//!
//! Command handlers validate, audit (fail closed) and record; one supervisor
//! task per release then reconciles the stored record with the backend:
//! starts the execution, polls it, opens approval waits, sends decided
//! signals, enforces the approval timeout and finishes the release. Clicks
//! only record decisions (revision-checked) and wake the supervisor, so
//! every side effect has a single writer, and [`Engine::resume`] after a
//! restart is simply a supervisor for every unfinished record.

mod approval_request;
mod builder;
mod clock;
mod decisions;
mod deployment_ids;
mod finish;
mod locks;
mod messages;
mod outcome;
mod ownership;
mod poll_policy;
mod queries;
mod releases;
mod request;
mod router;
mod start;
mod supervisor;
mod wait_end;
mod waits;
mod watch;

#[cfg(test)]
mod footprint;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditSink};
use crate::backend::{BackendError, DeployBackend};
use crate::catalog::Catalog;
use crate::chat::{ChatEvent, ChatSurface, Conversation, EventHandler, Handled, Message};
use crate::ids::{DeploymentId, UserId};
use crate::policy::{ActionPolicy, ApproverPolicy};
use crate::state::{StateError, StateStore};

pub use builder::{BuildEngineError, EngineBuilder};
pub use deployment_ids::deployment_id_for;
pub use poll_policy::PollPolicy;

use clock::Clock;
use supervisor::Activity;

/// The engine. Cheap to clone; clones share everything.
///
/// It is the real [`EventHandler`]: chat listeners hand it every event.
///
/// ```no_run
/// # async fn demo(
/// #     catalog: chatdeploy_core::Catalog,
/// #     chat: std::sync::Arc<dyn chatdeploy_core::chat::ChatSurface>,
/// #     backend: std::sync::Arc<dyn chatdeploy_core::backend::DeployBackend>,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use chatdeploy_core::audit::JsonlAuditSink;
/// use chatdeploy_core::chat::ChatEvent;
/// use chatdeploy_core::engine::Engine;
/// use chatdeploy_core::state::InMemoryStateStore;
///
/// let engine = Engine::builder()
///     .with_catalog(catalog)
///     .with_chat(chat)
///     .with_backend(backend)
///     .with_audit(Arc::new(JsonlAuditSink::open("audit.jsonl")?))
///     .with_state(Arc::new(InMemoryStateStore::new()))
///     .build()?;
/// engine.resume().await?;
/// engine
///     .handle(ChatEvent::command("Ev1", "U01", "C0PRODDEPLOY", "deploy app r-99.1.0"))
///     .await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("supervisors", &self.shared.supervisors().len())
            .finish_non_exhaustive()
    }
}

struct SupervisorHandle {
    wake: Arc<Notify>,
    activity: Arc<tokio::sync::watch::Sender<Activity>>,
}

/// A shared `dyn` component whose methods are called through its vtable
/// directly. Called on the `Arc` itself, each async method would go through
/// `Arc`'s forwarding impl first and box its future twice, on every event.
pub(crate) struct Port<T: ?Sized>(Arc<T>);

impl<T: ?Sized> std::ops::Deref for Port<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct Shared {
    catalog: Arc<Catalog>,
    chat: Port<dyn ChatSurface>,
    backend: Port<dyn DeployBackend>,
    policy: Port<dyn ApproverPolicy>,
    access: Port<dyn ActionPolicy>,
    audit: Port<dyn AuditSink>,
    state: Port<dyn StateStore>,
    polling: PollPolicy,
    /// Bounds the backend calls in flight at once across all releases, so
    /// that many releases polling together do not open a connection each
    /// (or trip the backend's rate limits).
    backend_permits: tokio::sync::Semaphore,
    /// The longest a backend call may take before it counts as failed.
    backend_timeout: Duration,
    dedupe_ttl: Duration,
    clock: Clock,
    supervisors: Mutex<HashMap<DeploymentId, SupervisorHandle>>,
    /// This replica's name as a lease owner.
    replica: String,
    /// How long a lease holds unless renewed.
    lease_ttl: Duration,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// Why [`Engine::resume`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The in-flight releases could not be read.
    #[error("could not read the releases in flight")]
    State(#[source] StateError),
}

impl Engine {
    /// A builder; see [`EngineBuilder`].
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Handles one inbound event to the end of its synchronous part (reply,
    /// audit, records); release work continues in background tasks.
    /// Never fails: every problem is answered to the person and logged.
    pub async fn handle(&self, event: ChatEvent) -> Handled {
        router::handle(&self.shared, event).await
    }

    /// Picks up every unfinished release nobody else holds (after a
    /// restart, or a replica's death) and watches it again; nothing is
    /// started or signalled twice. From then on, until
    /// [`Engine::shutdown`], the engine keeps taking over releases other
    /// replicas leave behind, and wakes a release's supervisor when another
    /// replica records a decision (with stores that share their changes).
    /// Returns how many releases it found to pick up.
    ///
    /// # Errors
    ///
    /// [`ResumeError::State`] when the state store cannot be read.
    pub async fn resume(&self) -> Result<usize, ResumeError> {
        let claimable = self
            .shared
            .state
            .claimable(&self.shared.replica, self.shared.clock.now())
            .await
            .map_err(ResumeError::State)?;
        let count = claimable.len();
        for id in claimable {
            tracing::info!(deployment = %id, replica = %self.shared.replica, "resuming release");
            supervisor::spawn(&self.shared, id, true);
        }
        ownership::start(&self.shared);
        Ok(count)
    }

    /// This replica's name as an owner of release leases.
    pub fn replica(&self) -> &str {
        &self.shared.replica
    }

    /// Waits until every release this engine supervises is finished or
    /// waiting on a person (an approval).
    pub async fn until_settled(&self) {
        loop {
            let settled = self
                .shared
                .supervisors()
                .values()
                .all(|handle| *handle.activity.borrow() != Activity::Busy);
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many releases this engine is supervising now.
    pub fn supervised(&self) -> usize {
        self.shared
            .supervisors()
            .values()
            .filter(|handle| *handle.activity.borrow() != Activity::Done)
            .count()
    }

    /// Stops supervising: background tasks end at their next step and the
    /// state store keeps every release for [`Engine::resume`].
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// After [`Engine::shutdown`], waits until every supervisor has finished
    /// the step it was in (so a release that was finishing is recorded as
    /// finished), or until `limit` passes. Returns whether all stopped.
    pub async fn until_stopped(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.shared.supervisors().is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl EventHandler for Engine {
    async fn handle(&self, event: ChatEvent) -> Handled {
        Engine::handle(self, event).await
    }
}

impl Shared {
    fn supervisors(&self) -> MutexGuard<'_, HashMap<DeploymentId, SupervisorHandle>> {
        self.supervisors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a supervisor of this engine runs `deployment` (and has not
    /// finished).
    fn supervises(&self, deployment: &DeploymentId) -> bool {
        self.supervisors()
            .get(deployment)
            .is_some_and(|handle| *handle.activity.borrow() != Activity::Done)
    }

    /// Wakes a release's supervisor, e.g. after a decision was recorded.
    fn wake(&self, deployment: &DeploymentId) {
        if let Some(handle) = self.supervisors().get(deployment) {
            // Busy at once, so that `until_settled` waits for the reaction.
            handle.activity.send_replace(Activity::Busy);
            handle.wake.notify_one();
        }
    }

    /// Records an audit event; the caller decides whether a failure stops
    /// the action (before acting) or is only logged (after).
    async fn audit(&self, event: &AuditEvent) -> Result<(), crate::audit::AuditError> {
        self.audit.record(event).await.inspect_err(|error| {
            tracing::error!(%error, action = ?event.action, id = %event.id, "audit record failed");
        })
    }

    /// Records an audit event of something that already happened; retries
    /// a few times, then logs the record in full so it is not lost.
    async fn audit_after(&self, event: AuditEvent) {
        for attempt in 0..5u32 {
            if self.audit.record(&event).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt)).await;
        }
        let json = serde_json::to_string(&event).unwrap_or_default();
        tracing::error!(record = %json, "audit record could not be written after retries");
    }

    /// Shows `message` to `user` only; failures are logged (the person can
    /// ask again, the release is not affected).
    async fn tell(&self, to: &Conversation, user: &UserId, message: Message) {
        if let Err(error) = self.chat.post_ephemeral(to, user, &message).await {
            tracing::warn!(%error, hint = %error.hint(), "could not send an ephemeral reply");
        }
    }

    /// Runs one backend call once a turn is free (see `backend_permits`),
    /// giving up after `backend_timeout`: a hung call must not hold its
    /// turn forever. A call that timed out may still have taken effect;
    /// every caller re-reads before acting again.
    async fn backend_call<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        // The semaphore is never closed, so the permit is always granted.
        let _turn = self.backend_permits.acquire().await;
        match tokio::time::timeout(self.backend_timeout, call).await {
            Ok(result) => result,
            Err(elapsed) => Err(BackendError::Unavailable {
                operation: operation.to_owned(),
                source: Box::new(elapsed),
            }),
        }
    }

    /// Posts `message` into `to`; failures are logged.
    async fn say(&self, to: &Conversation, message: &Message) {
        if let Err(error) = self.chat.post(to, message).await {
            tracing::warn!(%error, hint = %error.hint(), "could not post a reply");
        }
    }
}
