#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The conformance suites of the traits against core's own implementations
//! (the state store's runs next to `InMemoryStateStore`): the scripted
//! backend on tokio's paused clock, the in-memory, JSONL and fan-out audit
//! sinks, and the recording chat surface; plus the reduced check of the
//! null surface, which the chat contract exempts.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chatdeploy_core::audit::{
    AuditEvent, AuditSink, FanOutAuditSink, InMemoryAuditSink, JsonlAuditSink, contract as audit,
};
use chatdeploy_core::backend::contract::{self as backend, BackendFixture};
use chatdeploy_core::backend::{DeployBackend, StartRequest};
use chatdeploy_core::chat::contract as chat;
use chatdeploy_core::chat::{
    ChatSurface, Conversation, Message, NullChatSurface, RecordingChatSurface,
};
use chatdeploy_core::testing::{FakeStep, ScriptedBackend};
use chatdeploy_core::{DeploymentId, GroupId, UserId};

const DOCUMENT: &str = "Deploy-Contract";

/// A scripted document that prepares for 2 s, waits for an approval, then
/// rolls out; and the fixture that starts it.
fn scripted() -> (ScriptedBackend, BackendFixture) {
    let backend = ScriptedBackend::new().with_document(
        DOCUMENT,
        vec![
            FakeStep::Run("Prepare", Duration::from_secs(2)),
            FakeStep::Approve("Approve"),
            FakeStep::Run("Rollout", Duration::from_secs(2)),
        ],
    );
    let request = StartRequest {
        deployment: DeploymentId::new("d-contract"),
        service: "app".into(),
        version: "r-1.0.0".into(),
        environment: "production".into(),
        requester: UserId::new("U0ALICE"),
        document: DOCUMENT.into(),
        document_version: None,
        parameters: BTreeMap::from([("ReleaseVersion".to_owned(), "r-1.0.0".to_owned())]),
        idempotency_token: uuid::Uuid::nil(),
    };
    let fixture = BackendFixture::new(request, "Approve")
        .with_timeout(Duration::from_secs(60))
        .with_poll_interval(Duration::from_secs(1));
    (backend, fixture)
}

#[tokio::test(start_paused = true)]
async fn the_scripted_backend_satisfies_the_backend_contract() {
    let (scripted, fixture) = scripted();
    backend::run_all(&scripted, &fixture).await;
}

#[tokio::test(start_paused = true)]
async fn the_scripted_backend_satisfies_it_behind_a_trait_object() {
    let (scripted, fixture) = scripted();
    let shared: Arc<dyn DeployBackend> = Arc::new(scripted);
    backend::run_all(&shared, &fixture).await;
}

fn failing_in_memory() -> InMemoryAuditSink {
    let broken = InMemoryAuditSink::new();
    broken.set_failing(true);
    broken
}

#[tokio::test]
async fn the_in_memory_audit_sink_satisfies_the_audit_contract() {
    let sink = InMemoryAuditSink::new();
    audit::run_all(&sink, async || sink.events(), &failing_in_memory()).await;
}

/// Every record in a JSONL audit file, in file order.
fn read_jsonl(path: &Path) -> Vec<AuditEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one record per line"))
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the broken sink writes to /dev/full"
)]
async fn the_jsonl_audit_sink_satisfies_the_audit_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink = JsonlAuditSink::open(&path).unwrap();
    // /dev/full accepts the open and fails every write with ENOSPC.
    let broken = JsonlAuditSink::open("/dev/full").unwrap();
    audit::run_all(&sink, async || read_jsonl(&path), &broken).await;
    // Reopened, the file's records are still known: a replay is dropped.
    let reopened = JsonlAuditSink::open(&path).unwrap();
    audit::a_repeated_id_is_kept_once(&reopened, async || read_jsonl(&path)).await;
    let ids: HashSet<String> = read_jsonl(&path).into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids.len(),
        read_jsonl(&path).len(),
        "no ID twice in the file"
    );
}

/// Every record of a rotating JSONL log, across its files, in write order.
fn read_jsonl_files(sink: &JsonlAuditSink) -> Vec<AuditEvent> {
    sink.files()
        .unwrap()
        .iter()
        .flat_map(|path| read_jsonl(path))
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the broken sink writes to /dev/full"
)]
async fn the_jsonl_audit_sink_satisfies_the_audit_contract_while_rotating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // About one record per file: the checks' writes cross rotations.
    let open = || {
        JsonlAuditSink::builder(&path)
            .with_rotate_at_bytes(800)
            .build()
            .unwrap()
    };
    let sink = open();
    let broken = JsonlAuditSink::builder("/dev/full")
        .with_rotate_at_bytes(1)
        .build()
        .unwrap();
    audit::run_all(&sink, async || read_jsonl_files(&sink), &broken).await;
    let reopened = open();
    audit::a_repeated_id_is_kept_once(&reopened, async || read_jsonl_files(&reopened)).await;
    let all = read_jsonl_files(&reopened);
    let ids: HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "no ID twice in the log");
    assert!(reopened.files().unwrap().len() > 3, "the log was rotated");
}

#[tokio::test]
async fn the_fan_out_audit_sink_satisfies_the_audit_contract() {
    let first = Arc::new(InMemoryAuditSink::new());
    let second = Arc::new(InMemoryAuditSink::new());
    let fan_out = FanOutAuditSink::new()
        .with_sink(first.clone())
        .with_sink(second.clone());
    // One sink down is enough to refuse: the caller must fail closed.
    let broken = FanOutAuditSink::new()
        .with_sink(Arc::new(InMemoryAuditSink::new()))
        .with_sink(Arc::new(failing_in_memory()));
    let read = async || {
        let records = first.events();
        assert_eq!(records, second.events(), "every sink holds every record");
        records
    };
    audit::run_all(&fan_out, read, &broken).await;
}

#[tokio::test]
async fn the_audit_contract_holds_behind_a_trait_object() {
    let sink = Arc::new(InMemoryAuditSink::new());
    let shared: Arc<dyn AuditSink> = sink.clone();
    let broken: Box<dyn AuditSink> = Box::new(failing_in_memory());
    audit::run_all(&shared, async || sink.events(), &broken).await;
}

#[tokio::test]
async fn the_recording_surface_satisfies_the_chat_contract() {
    let surface = RecordingChatSurface::new();
    chat::run_all(&surface, &surface).await;
}

#[tokio::test]
async fn the_recording_surface_satisfies_it_behind_a_trait_object() {
    let surface = Arc::new(RecordingChatSurface::new());
    let shared: Arc<dyn ChatSurface> = surface.clone();
    chat::run_all(&shared, surface.as_ref()).await;
}

/// The null surface keeps nothing to observe, so the chat contract exempts
/// it; what it does promise: every call succeeds, each post gets a handle of
/// its own in the right channel, and user groups are empty (nobody is
/// authorised through them).
#[tokio::test]
async fn the_null_surface_accepts_everything_and_resolves_no_one() {
    let null = NullChatSurface::new();
    let to = Conversation::channel(chat::CHANNEL).in_thread("1700000000.000001");
    let message = Message::text("dropped");
    let first = null.post(&to, &message).await.unwrap();
    let second = null.post(&to, &message).await.unwrap();
    assert_eq!(first.channel, to.channel);
    assert_ne!(first.id, second.id, "each post has an ID of its own");
    null.update(&first, &message).await.unwrap();
    null.post_ephemeral(&to, &UserId::new(chat::USER), &message)
        .await
        .unwrap();
    assert!(
        null.group_members(&GroupId::new(chat::GROUP))
            .await
            .unwrap()
            .is_empty()
    );
}
