//! A harness for engine scenario tests: the real engine with the in-memory
//! state store, audit sink and chat surface, a scripted backend, and tokio's
//! paused clock.
#![allow(dead_code, unreachable_pub, missing_docs)] // each test file uses a subset

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chatdeploy_core::Catalog;
use chatdeploy_core::audit::{AuditAction, AuditSink, InMemoryAuditSink};
use chatdeploy_core::chat::{
    ButtonAction, ChatSurface, Conversation, Message, RecordedCall, RecordingChatSurface,
};
use chatdeploy_core::chat::{ChatEvent, Handled};
use chatdeploy_core::engine::{Engine, PollPolicy};
use chatdeploy_core::state::{DeploymentRecord, InMemoryStateStore, Lease, StateStore};
use chatdeploy_core::testing::{FakeStep, ScriptedBackend};
use chatdeploy_core::{DeploymentId, UserId};

pub const DEPLOY_CHANNEL: &str = "C0DEPLOY";
pub const ALICE: &str = "U0ALICE"; // deployer
pub const DAVE: &str = "U0DAVE"; // deployer
pub const CAROL: &str = "U0CAROL"; // deployer and approver
pub const BOB: &str = "U0BOB"; // approver
pub const ERIN: &str = "U0ERIN"; // approver of db only
pub const EVE: &str = "U0EVE"; // nobody

pub const CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]

[roles]
deployers = ["U0ALICE", "U0DAVE", "U0CAROL"]
approvers = ["U0BOB", "U0CAROL"]

[approval]
timeout = "2h"

[services.app]
aliases = ["api"]
description = "Main API"
version_pattern = '^r-\d+\.\d+\.\d+$'
version_example = "r-99.1.0"
document = "Deploy-App"
approval = "document"
environments = ["production", "staging"]
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}", Target = "{env}" }
release_url = "https://github.com/acme/app/releases/tag/{version}"
runbook = "https://wiki.acme.dev/runbooks/app"

[services.ui]
version_pattern = '^r-\d+\.\d+\.\d+$'
version_example = "r-99.1.0"
document = "Deploy-UI"
approval = "before_start"
parameters = { ReleaseVersion = "{version}" }

[services.db]
version_pattern = '^v\d+$'
version_example = "v42"
document = "Deploy-DB"
approval = "document"
approvers = ["U0BOB", "U0CAROL", "U0ERIN"]
min_approvals = 2
parameters = { SchemaVersion = "{version}" }

[services.docs]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-Docs"
approval = "none"
parameters = { ReleaseVersion = "{version}" }

[services.broken]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-Broken"
approval = "none"
"#;

pub fn scripted_backend() -> ScriptedBackend {
    let secs = Duration::from_secs;
    ScriptedBackend::new()
        .with_document(
            "Deploy-App",
            vec![
                FakeStep::Run("UpdateParameter", secs(5)),
                FakeStep::Approve("Approve"),
                FakeStep::Run("Rollout", secs(20)),
            ],
        )
        .with_document(
            "Deploy-UI",
            vec![
                FakeStep::Run("Build", secs(5)),
                FakeStep::Run("Rollout", secs(5)),
            ],
        )
        .with_document(
            "Deploy-DB",
            vec![
                FakeStep::Run("Backup", secs(5)),
                FakeStep::Approve("Approve"),
                FakeStep::Run("Migrate", secs(5)),
            ],
        )
        .with_document("Deploy-Docs", vec![FakeStep::Run("Publish", secs(10))])
        .with_document(
            "Deploy-Broken",
            vec![
                FakeStep::Run("Prepare", secs(3)),
                FakeStep::Fail("Rollout", secs(4), "exit status 1: health check failed"),
            ],
        )
}

pub struct Harness {
    pub engine: Engine,
    pub chat: Arc<RecordingChatSurface>,
    pub backend: Arc<ScriptedBackend>,
    pub audit: Arc<InMemoryAuditSink>,
    pub state: Arc<dyn StateStore>,
    next_event: Arc<AtomicU64>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_state(Arc::new(InMemoryStateStore::new()))
    }

    pub fn with_state(state: Arc<dyn StateStore>) -> Self {
        Self::from_parts(
            Arc::new(RecordingChatSurface::new()),
            Arc::new(scripted_backend()),
            Arc::new(InMemoryAuditSink::new()),
            state,
            Arc::new(AtomicU64::new(1)),
        )
    }

    /// A harness on another catalog and backend.
    pub fn custom(config: &str, backend: ScriptedBackend) -> Self {
        Self::build(
            config,
            Arc::new(RecordingChatSurface::new()),
            Arc::new(backend),
            Arc::new(InMemoryAuditSink::new()),
            Arc::new(InMemoryStateStore::new()),
            Arc::new(AtomicU64::new(1)),
        )
    }

    fn from_parts(
        chat: Arc<RecordingChatSurface>,
        backend: Arc<ScriptedBackend>,
        audit: Arc<InMemoryAuditSink>,
        state: Arc<dyn StateStore>,
        next_event: Arc<AtomicU64>,
    ) -> Self {
        Self::build(CONFIG, chat, backend, audit, state, next_event)
    }

    fn build(
        config: &str,
        chat: Arc<RecordingChatSurface>,
        backend: Arc<ScriptedBackend>,
        audit: Arc<InMemoryAuditSink>,
        state: Arc<dyn StateStore>,
        next_event: Arc<AtomicU64>,
    ) -> Self {
        let catalog = Catalog::from_toml_str(config, "test.toml").unwrap();
        let engine = Engine::builder()
            .with_catalog(catalog)
            .with_chat(chat.clone() as Arc<dyn ChatSurface>)
            .with_backend(backend.clone())
            .with_audit(audit.clone() as Arc<dyn AuditSink>)
            .with_state(state.clone())
            .with_polling(PollPolicy::default())
            // A restart comes back under the same name, as a bot restarted
            // on its host does, and takes its releases back at once.
            .with_replica_id("test-replica")
            .build()
            .unwrap();
        Self {
            engine,
            chat,
            backend,
            audit,
            state,
            next_event,
        }
    }

    /// The same chat, backend, audit and state with a new engine: a restart.
    pub fn restart(&self) -> Self {
        self.engine.shutdown();
        Self::from_parts(
            self.chat.clone(),
            self.backend.clone(),
            self.audit.clone(),
            self.state.clone(),
            self.next_event.clone(),
        )
    }

    fn event_id(&self) -> String {
        format!("Ev{:04}", self.next_event.fetch_add(1, Ordering::SeqCst))
    }

    /// `user` types `text` at the top level of the deploy channel.
    pub async fn say(&self, user: &str, text: &str) -> Handled {
        self.say_in(DEPLOY_CHANNEL, user, text).await
    }

    pub async fn say_in(&self, channel: &str, user: &str, text: &str) -> Handled {
        let id = self.event_id();
        let ts = format!("1800000000.{:06}", self.next_event.load(Ordering::SeqCst));
        self.engine
            .handle(ChatEvent::command(id, user, channel, text).with_message(ts))
            .await
    }

    pub async fn click(
        &self,
        user: &str,
        action: ButtonAction,
        deployment: &DeploymentId,
    ) -> Handled {
        let id = self.event_id();
        self.engine
            .handle(ChatEvent::button(
                id,
                user,
                DEPLOY_CHANNEL,
                action,
                deployment.clone(),
            ))
            .await
    }

    pub async fn settle(&self) {
        self.engine.until_settled().await;
    }

    /// Lets `duration` of (paused) time pass, then settles.
    pub async fn wait(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
        self.settle().await;
    }

    pub async fn record(&self, id: &DeploymentId) -> DeploymentRecord {
        self.state.deployment(id).await.unwrap().unwrap()
    }

    /// Current content of every message in the release's thread.
    pub async fn thread(&self, id: &DeploymentId) -> Vec<Message> {
        let record = self.record(id).await;
        self.chat.messages_in(&Conversation {
            channel: record.channel.clone(),
            thread: record.thread.clone(),
        })
    }

    pub fn thread_text(&self, messages: &[Message]) -> String {
        messages
            .iter()
            .map(Message::to_plain_text)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    pub fn ephemeral_texts(&self, user: &str) -> Vec<String> {
        self.chat
            .ephemerals_for(&UserId::new(user))
            .into_iter()
            .map(|m| m.text.to_string())
            .collect()
    }

    pub fn last_ephemeral(&self, user: &str) -> String {
        self.ephemeral_texts(user).pop().unwrap_or_default()
    }

    pub fn count(&self, action: AuditAction) -> usize {
        self.audit
            .actions()
            .iter()
            .filter(|a| **a == action)
            .count()
    }

    /// Number of chat posts (not updates) so far.
    pub fn posts(&self) -> usize {
        self.chat
            .calls()
            .iter()
            .filter(|c| matches!(c, RecordedCall::Post { .. }))
            .count()
    }
}

/// The release ID of a `Handled::Released`.
pub fn released(handled: Handled) -> DeploymentId {
    match handled {
        Handled::Released(id) => id,
        other => panic!("expected a release, got {other:?}"),
    }
}

/// A state store that loses every dedupe record (as after a restore from
/// an old backup), to show the second guard: deterministic release IDs and
/// backend tokens.
pub struct ForgetfulDedupe(pub Arc<InMemoryStateStore>);

#[async_trait::async_trait]
impl StateStore for ForgetfulDedupe {
    async fn remember_event(
        &self,
        _event: &chatdeploy_core::EventId,
        _expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, chatdeploy_core::state::StateError> {
        Ok(true)
    }
    async fn try_lock(
        &self,
        lock: &chatdeploy_core::state::ServiceLock,
    ) -> Result<chatdeploy_core::state::LockAttempt, chatdeploy_core::state::StateError> {
        self.0.try_lock(lock).await
    }
    async fn unlock(
        &self,
        service: &str,
        holder: &chatdeploy_core::state::LockHolder,
    ) -> Result<Option<chatdeploy_core::state::ServiceLock>, chatdeploy_core::state::StateError>
    {
        self.0.unlock(service, holder).await
    }
    async fn lock(
        &self,
        service: &str,
    ) -> Result<Option<chatdeploy_core::state::ServiceLock>, chatdeploy_core::state::StateError>
    {
        self.0.lock(service).await
    }
    async fn locks(
        &self,
    ) -> Result<Vec<chatdeploy_core::state::ServiceLock>, chatdeploy_core::state::StateError> {
        self.0.locks().await
    }
    async fn create_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<(), chatdeploy_core::state::StateError> {
        self.0.create_deployment(record).await
    }
    async fn update_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeploymentRecord, chatdeploy_core::state::StateError> {
        self.0.update_deployment(record).await
    }
    async fn deployment(
        &self,
        id: &DeploymentId,
    ) -> Result<Option<DeploymentRecord>, chatdeploy_core::state::StateError> {
        self.0.deployment(id).await
    }
    async fn in_flight(&self) -> Result<Vec<DeploymentRecord>, chatdeploy_core::state::StateError> {
        self.0.in_flight().await
    }
    async fn append_history(
        &self,
        entry: &chatdeploy_core::state::ReleaseRecord,
    ) -> Result<(), chatdeploy_core::state::StateError> {
        self.0.append_history(entry).await
    }
    async fn history(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<chatdeploy_core::state::ReleaseRecord>, chatdeploy_core::state::StateError>
    {
        self.0.history(service, limit).await
    }
    async fn claim(
        &self,
        deployment: &DeploymentId,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        ttl: Duration,
    ) -> Result<Option<Lease>, chatdeploy_core::state::StateError> {
        self.0.claim(deployment, owner, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: chrono::DateTime<chrono::Utc>,
        ttl: Duration,
    ) -> Result<Lease, chatdeploy_core::state::StateError> {
        self.0.renew(lease, now, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), chatdeploy_core::state::StateError> {
        self.0.release_lease(lease).await
    }
    async fn update_fenced(
        &self,
        record: &DeploymentRecord,
        lease: &Lease,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<DeploymentRecord, chatdeploy_core::state::StateError> {
        self.0.update_fenced(record, lease, now).await
    }
    async fn claimable(
        &self,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<DeploymentId>, chatdeploy_core::state::StateError> {
        self.0.claimable(owner, now).await
    }
}
