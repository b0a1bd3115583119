//! Bring your own chat surface: the engine with a chat system of your own
//! (stdout), in-memory state and audit and a scripted backend, so a release
//! runs end to end offline: `cargo run --example own_chat`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy::core::audit::InMemoryAuditSink;
use chatdeploy::core::chat::{
    ButtonAction, ChatError, ChatEvent, ChatSurface, Conversation, Message, PostedMessage,
};
use chatdeploy::core::engine::Engine;
use chatdeploy::core::state::InMemoryStateStore;
use chatdeploy::core::testing::{FakeStep, ScriptedBackend};
use chatdeploy::core::{Catalog, GroupId, MessageId, UserId};

/// Your chat system. Messages come as structured text: render mentions,
/// links and supplied text your own way; here, plain text.
#[derive(Default)]
struct Stdout(std::sync::atomic::AtomicU64);

#[async_trait]
impl ChatSurface for Stdout {
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        println!("[#{}] {}", to.channel, message.to_plain_text());
        Ok(PostedMessage {
            channel: to.channel.clone(),
            id: MessageId::new(n.to_string()),
        })
    }
    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError> {
        println!("[#{} edit {}] {}", posted.channel, posted.id, message.text);
        Ok(())
    }
    async fn post_ephemeral(
        &self,
        _: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError> {
        println!("[to {user}] {}", message.text);
        Ok(())
    }
    async fn group_members(&self, _: &GroupId) -> Result<Vec<UserId>, ChatError> {
        Ok(Vec::new())
    }
}

const CONFIG: &str = r#"
[chat]
deploy_channels = ["releases"]
[roles]
deployers = ["alice"]
approvers = ["bob"]
[services.app]
version_pattern = '^v\d+$'
document = "Deploy-App"
approval = "document"
parameters = { Version = "{version}" }
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = vec![
        FakeStep::Run("Build", Duration::from_millis(300)),
        FakeStep::Approve("Approve"),
        FakeStep::Run("Rollout", Duration::from_millis(300)),
    ];
    let engine = Engine::builder()
        .with_catalog(Catalog::from_toml_str(CONFIG, "own_chat.toml")?)
        .with_chat(Arc::new(Stdout::default()))
        .with_backend(Arc::new(
            ScriptedBackend::new().with_document("Deploy-App", steps),
        ))
        .with_audit(Arc::new(InMemoryAuditSink::new()))
        .with_state(Arc::new(InMemoryStateStore::new()))
        .build()?;
    let deploy =
        ChatEvent::command("ev-1", "alice", "releases", "deploy app v42").with_message("m-1");
    let Some(release) = engine.handle(deploy).await.release() else {
        return Err("the release was refused".into());
    };
    engine.until_settled().await; // it now waits for bob
    engine
        .handle(ChatEvent::button(
            "ev-2",
            "bob",
            "releases",
            ButtonAction::Approve,
            release,
        ))
        .await;
    engine.until_settled().await;
    Ok(())
}
