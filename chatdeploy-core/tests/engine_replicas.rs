//! Engine scenarios with two replicas on one state store (tokio's paused
//! clock, 3 s leases): a replica cut off from the store (as a stopped
//! process is) while its summary post waits inside the chat surface drops
//! the post once its lease lapses, and its successor posts the one
//! summary; a replica that waits out a rate limit longer than its lease
//! keeps the lease meanwhile, so nobody takes over; and a replica's sweep
//! leaves the releases it supervises alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

#[path = "replicas/cut_off.rs"]
mod cut_off;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy_core::audit::{AuditAction, AuditSink, InMemoryAuditSink};
use chatdeploy_core::chat::{
    ButtonAction, ChatError, ChatEvent, ChatSurface, Conversation, Message, PostedMessage,
    RecordedCall, RecordingChatSurface,
};
use chatdeploy_core::engine::{Engine, PollPolicy};
use chatdeploy_core::state::{InMemoryStateStore, StateStore};
use chatdeploy_core::testing::ScriptedBackend;
use chatdeploy_core::{Catalog, DeploymentId, GroupId, UserId};
use support::{ALICE, BOB, CONFIG, DEPLOY_CHANNEL, released, scripted_backend};

const TTL: Duration = Duration::from_secs(3);

/// One replica's view of the shared chat: counts this replica's posts and
/// edits, and can hold its summary post inside the call (as the Slack
/// surface does while it waits out a `Retry-After`), cutting the replica
/// off from the store meanwhile, or answer it with a rate limit.
struct ReplicaChat {
    inner: Arc<RecordingChatSurface>,
    /// Hold the summary post this long, cut off (`cut`) meanwhile.
    hold_summary: Option<(Duration, Arc<AtomicBool>)>,
    held: AtomicBool,
    rate_limit: Option<Duration>,
    limited: AtomicBool,
    /// Posts and edits that reached the chat once the hold began.
    writes_after_hold: AtomicUsize,
}

impl ReplicaChat {
    fn new(inner: &Arc<RecordingChatSurface>) -> Self {
        Self {
            inner: Arc::clone(inner),
            hold_summary: None,
            held: AtomicBool::new(false),
            rate_limit: None,
            limited: AtomicBool::new(false),
            writes_after_hold: AtomicUsize::new(0),
        }
    }

    fn count_write(&self) {
        if self.held.load(Ordering::SeqCst) {
            self.writes_after_hold.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl ChatSurface for ReplicaChat {
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError> {
        let summary = message.to_plain_text().contains("succeeded in");
        if let Some(after) = self.rate_limit
            && summary
            && !self.limited.swap(true, Ordering::SeqCst)
        {
            return Err(ChatError::RateLimited {
                retry_after: Some(after),
            });
        }
        if let Some((hold, cut)) = &self.hold_summary
            && summary
            && !self.held.swap(true, Ordering::SeqCst)
        {
            cut.store(true, Ordering::SeqCst);
            tokio::time::sleep(*hold).await;
        }
        self.count_write();
        self.inner.post(to, message).await
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError> {
        self.count_write();
        self.inner.update(posted, message).await
    }

    async fn post_ephemeral(
        &self,
        to: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.inner.post_ephemeral(to, user, message).await
    }

    async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError> {
        self.inner.group_members(group).await
    }
}

struct Pair {
    a: Engine,
    b: Engine,
    a_chat: Arc<ReplicaChat>,
    /// Set: replica `a`'s lease operations fail.
    a_cut: Arc<AtomicBool>,
    chat: Arc<RecordingChatSurface>,
    backend: Arc<ScriptedBackend>,
    audit: Arc<InMemoryAuditSink>,
    state: Arc<InMemoryStateStore>,
}

fn engine(
    name: &str,
    chat: Arc<dyn ChatSurface>,
    backend: &Arc<ScriptedBackend>,
    audit: &Arc<InMemoryAuditSink>,
    state: Arc<dyn StateStore>,
) -> Engine {
    Engine::builder()
        .with_catalog(Catalog::from_toml_str(CONFIG, "test.toml").unwrap())
        .with_chat(chat)
        .with_backend(backend.clone())
        .with_audit(audit.clone() as Arc<dyn AuditSink>)
        .with_state(state)
        .with_polling(PollPolicy {
            fast: Duration::from_secs(1),
            slow: Duration::from_secs(2),
            waiting: Duration::from_secs(2),
            ..PollPolicy::default()
        })
        .with_replica_id(name)
        .with_lease_ttl(TTL)
        .build()
        .unwrap()
}

/// Replica `a` (chat `a_chat`, cut off from the store by `a_cut`) takes
/// a release of `app`, replica `b` stands by; Bob approves at `b`. Returns
/// the release.
async fn start(
    a_chat: ReplicaChat,
    a_cut: Arc<AtomicBool>,
    chat: Arc<RecordingChatSurface>,
) -> (Pair, DeploymentId) {
    let backend = Arc::new(scripted_backend());
    let audit = Arc::new(InMemoryAuditSink::new());
    let state = Arc::new(InMemoryStateStore::new());
    let a_chat = Arc::new(a_chat);
    let a_state = Arc::new(cut_off::CutOff {
        inner: Arc::clone(&state),
        cut: Arc::clone(&a_cut),
    });
    let a = engine("r-a", a_chat.clone(), &backend, &audit, a_state);
    let b_chat = Arc::new(ReplicaChat::new(&chat));
    let b = engine("r-b", b_chat, &backend, &audit, state.clone());
    a.resume().await.unwrap();
    let deploy = ChatEvent::command("Ev1", ALICE, DEPLOY_CHANNEL, "deploy app r-1.0.0")
        .with_message("1800000000.000001");
    let id = released(a.handle(deploy).await);
    // `a`'s supervisor claims the release before `b` starts sweeping.
    tokio::time::sleep(Duration::from_millis(10)).await;
    b.resume().await.unwrap();
    let pair = Pair {
        a,
        b,
        a_chat,
        a_cut,
        chat,
        backend,
        audit,
        state,
    };
    wait_until(|| async { pair.backend.executions() == 1 }).await;
    tokio::time::sleep(Duration::from_secs(10)).await; // at the approval step
    let click = ChatEvent::button(
        "Ev2",
        BOB,
        DEPLOY_CHANNEL,
        ButtonAction::Approve,
        id.clone(),
    );
    pair.b.handle(click).await;
    (pair, id)
}

async fn wait_until<F, Fut>(ready: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out (60 s of paused time)");
}

impl Pair {
    fn summaries(&self) -> usize {
        self.chat
            .calls()
            .iter()
            .filter(|c| {
                matches!(c, RecordedCall::Post { message, .. }
                    if message.to_plain_text().contains("succeeded in"))
            })
            .count()
    }

    fn count(&self, action: AuditAction) -> usize {
        self.audit
            .actions()
            .iter()
            .filter(|a| **a == action)
            .count()
    }

    async fn finalized(&self, id: &DeploymentId) -> bool {
        let record = self.state.deployment(id).await.unwrap().unwrap();
        record.finalized
    }

    fn stop(&self) {
        self.a.shutdown();
        self.b.shutdown();
    }
}

#[tokio::test(start_paused = true)]
async fn a_replica_stopped_inside_its_summary_post_leaves_the_summary_to_its_successor() {
    let chat = Arc::new(RecordingChatSurface::new());
    let cut = Arc::new(AtomicBool::new(false));
    let mut a_chat = ReplicaChat::new(&chat);
    // The post waits 10 s inside the chat call while `a` is cut off from
    // the store (a stopped process renews nothing): its lease lapses.
    a_chat.hold_summary = Some((Duration::from_secs(10), Arc::clone(&cut)));
    let (pair, id) = start(a_chat, Arc::clone(&cut), chat).await;

    wait_until(|| pair.finalized(&id)).await;
    assert!(pair.a_chat.held.load(Ordering::SeqCst), "a was held");
    assert_eq!(
        pair.count(AuditAction::Resumed),
        1,
        "b took the release over"
    );
    pair.a_cut.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        pair.a_chat.writes_after_hold.load(Ordering::SeqCst),
        0,
        "a posted or edited after its lease lapsed"
    );
    assert_eq!(pair.summaries(), 1, "one summary");
    assert_eq!(pair.count(AuditAction::Succeeded), 1);
    assert_eq!(pair.backend.signals().len(), 1, "one approval signal");
    assert!(pair.state.lock("app").await.unwrap().is_none());
    pair.stop();
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_longer_than_the_lease_does_not_hand_the_release_over() {
    let chat = Arc::new(RecordingChatSurface::new());
    let mut a_chat = ReplicaChat::new(&chat);
    // Slack asks for 10 s: more than three leases' worth.
    a_chat.rate_limit = Some(Duration::from_secs(10));
    let (pair, id) = start(a_chat, Arc::new(AtomicBool::new(false)), chat).await;

    wait_until(|| pair.finalized(&id)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(pair.a_chat.limited.load(Ordering::SeqCst), "the limit hit");
    assert_eq!(pair.summaries(), 1, "one summary");
    assert_eq!(
        pair.count(AuditAction::Resumed),
        0,
        "a kept its lease while it waited; b never took over"
    );
    assert_eq!(pair.count(AuditAction::Succeeded), 1);
    pair.stop();
}

/// A replica's sweep for releases to take over finds the ones it holds
/// itself too (the store lists them, for a replica restarted under the
/// same name); waking their supervisors would poll the backend every sweep
/// (5 s) instead of the polling policy's 30 s while a release waits for
/// people.
#[tokio::test(start_paused = true)]
async fn the_sweep_does_not_wake_the_releases_a_replica_supervises() {
    let chat = Arc::new(RecordingChatSurface::new());
    let backend = Arc::new(scripted_backend());
    let audit = Arc::new(InMemoryAuditSink::new());
    let state = Arc::new(InMemoryStateStore::new());
    let engine = Engine::builder()
        .with_catalog(Catalog::from_toml_str(CONFIG, "test.toml").unwrap())
        .with_chat(chat)
        .with_backend(backend.clone())
        .with_audit(audit.clone() as Arc<dyn AuditSink>)
        .with_state(state.clone() as Arc<dyn StateStore>)
        .with_replica_id("r-a")
        .build()
        .unwrap();
    engine.resume().await.unwrap();
    let deploy = ChatEvent::command("Ev1", ALICE, DEPLOY_CHANNEL, "deploy app r-1.0.0")
        .with_message("1800000000.000001");
    let id = released(engine.handle(deploy).await);
    // Well into the wait, polled every 30 s (the default) by now.
    tokio::time::sleep(Duration::from_secs(300)).await;
    let record = state.deployment(&id).await.unwrap().unwrap();
    assert!(record.approval.is_some_and(|w| w.message.is_some()));
    let (_, before, _, _) = backend.call_counts();
    tokio::time::sleep(Duration::from_secs(300)).await;
    let (_, after, _, _) = backend.call_counts();
    eprintln!("{} snapshots in 5 minutes of waiting", after - before);
    assert!(
        after - before <= 11,
        "{} snapshots in 5 minutes of waiting, polled every 30 s",
        after - before
    );
    engine.shutdown();
}
