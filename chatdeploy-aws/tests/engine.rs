#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The core engine driving SsmBackend + the emulator + the in-memory chat
//! surface, state store and audit sink, on real (short) time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssm::types::SignalType;
use chatdeploy_aws::SsmEmulator;
use chatdeploy_core::Catalog;
use chatdeploy_core::DeploymentId;
use chatdeploy_core::audit::{AuditAction, AuditSink, InMemoryAuditSink};
use chatdeploy_core::chat::{
    ButtonAction, ChatSurface, Conversation, Message, RecordingChatSurface,
};
use chatdeploy_core::chat::{ChatEvent, Handled};
use chatdeploy_core::engine::{Engine, PollPolicy};
use chatdeploy_core::state::{DeploymentRecord, InMemoryStateStore, Stage, StateStore};
use support::*;

const CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]

[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]

[approval]
timeout = "2h"

[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}", Target = "{env}" }
"#;

struct World {
    emulator: SsmEmulator,
    engine: Engine,
    chat: Arc<RecordingChatSurface>,
    audit: Arc<InMemoryAuditSink>,
    state: Arc<InMemoryStateStore>,
}

async fn world() -> World {
    let emulator = SsmEmulator::builder()
        .step_delay(Duration::from_millis(50))
        .identity("OPSKEY", "arn:aws:iam::123456789012:user/ops")
        .document(DOCUMENT, SAMPLE)
        .start()
        .await
        .unwrap();
    let chat = Arc::new(RecordingChatSurface::new());
    let audit = Arc::new(InMemoryAuditSink::new());
    let state = Arc::new(InMemoryStateStore::new());
    let fast = Duration::from_millis(25);
    let engine = Engine::builder()
        .with_catalog(Catalog::from_toml_str(CONFIG, "test.toml").unwrap())
        .with_chat(chat.clone() as Arc<dyn ChatSurface>)
        .with_backend(Arc::new(backend(&emulator)))
        .with_audit(audit.clone() as Arc<dyn AuditSink>)
        .with_state(state.clone() as Arc<dyn StateStore>)
        .with_polling(PollPolicy {
            fast,
            slow: Duration::from_millis(100),
            waiting: Duration::from_millis(100),
            throttle_base: fast,
            throttle_max: Duration::from_millis(200),
            ..PollPolicy::default()
        })
        .build()
        .unwrap();
    World {
        emulator,
        engine,
        chat,
        audit,
        state,
    }
}

impl World {
    async fn record(&self, id: &DeploymentId) -> DeploymentRecord {
        self.state.deployment(id).await.unwrap().unwrap()
    }

    /// Waits (real time, at most 10 s) until the release reaches `stage`.
    async fn until_stage(&self, id: &DeploymentId, stage: Stage) -> DeploymentRecord {
        for _ in 0..400 {
            self.engine.until_settled().await;
            let record = self.record(id).await;
            if record.stage == stage {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("never reached {stage:?}: {:?}", self.record(id).await);
    }

    async fn thread(&self, id: &DeploymentId) -> Vec<Message> {
        let record = self.record(id).await;
        self.chat.messages_in(&Conversation {
            channel: record.channel.clone(),
            thread: record.thread.clone(),
        })
    }
}

async fn deploy(world: &World) -> DeploymentId {
    let handled = world
        .engine
        .handle(
            ChatEvent::command("Ev0001", "U0ALICE", "C0DEPLOY", "deploy app r-99.1.0")
                .with_message("1800000000.000001"),
        )
        .await;
    match handled {
        Handled::Released(id) => id,
        other => panic!("expected a release, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_with_approval_in_chat() {
    let w = world().await;
    let id = deploy(&w).await;
    let record = w.until_stage(&id, Stage::AwaitingApproval).await;
    let execution = record.execution.clone().unwrap();

    let thread = w.thread(&id).await;
    assert_eq!(thread.len(), 2, "status and approval request");
    assert!(thread[1].text.contains("@U0BOB"), "{}", thread[1].text);

    let click = ChatEvent::button(
        "Ev0002",
        "U0BOB",
        "C0DEPLOY",
        ButtonAction::Approve,
        id.clone(),
    );
    assert_eq!(w.engine.handle(click).await, Handled::Accepted);
    let record = w.until_stage(&id, Stage::Succeeded).await;
    assert_eq!(record.approved_by, vec!["U0BOB".into()]);

    // Exactly one execution and one signal reached SSM.
    assert_eq!(w.emulator.executions(), 1);
    assert_eq!(w.emulator.call_count("SendAutomationSignal"), 1);
    assert_eq!(
        w.emulator.execution_status(execution.as_str()).as_deref(),
        Some("Success")
    );
    let signal = w
        .emulator
        .calls()
        .into_iter()
        .find(|c| c.operation == "SendAutomationSignal")
        .unwrap();
    assert_eq!(signal.body["SignalType"], "Approve");
    assert!(signal.body["Payload"]["Comment"][0].is_string());
    let thread = w.thread(&id).await;
    assert!(thread[0].text.contains("succeeded"), "{}", thread[0].text);
    assert_eq!(
        w.audit
            .actions()
            .iter()
            .filter(|a| **a == AuditAction::Started)
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_in_the_aws_cli_is_noticed() {
    let w = world().await;
    let id = deploy(&w).await;
    let record = w.until_stage(&id, Stage::AwaitingApproval).await;
    let execution = record.execution.unwrap();

    // An operator approves with their own credentials, outside chat.
    client(&w.emulator, "OPSKEY")
        .send_automation_signal()
        .automation_execution_id(execution.as_str())
        .signal_type(SignalType::Approve)
        .send()
        .await
        .unwrap();
    w.until_stage(&id, Stage::Succeeded).await;

    let ask = &w.thread(&id).await[1];
    assert!(
        ask.text
            .contains("approved by arn:aws:iam::123456789012:user/ops in the AWS console"),
        "{}",
        ask.text
    );
    assert_eq!(
        w.audit
            .actions()
            .iter()
            .filter(|a| **a == AuditAction::DecidedOutsideChat)
            .count(),
        1
    );
    // The bot itself sent no signal.
    let signals: Vec<_> = w
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.operation == "SendAutomationSignal")
        .collect();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].caller, "arn:aws:iam::123456789012:user/ops");
}
