//! An end-to-end world: the fake Slack Web API, the SSM emulator, the real
//! SlackSurface, SsmBackend, engine, SQLite state, a JSONL audit file, and
//! the Events API listener on loopback, driven by signed HTTP requests.
#![allow(dead_code, unreachable_pub, missing_docs)] // each test file uses a subset

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatdeploy::aws::SsmEmulator;
use chatdeploy::core::Catalog;
use chatdeploy::core::audit::{AuditAction, AuditEvent, JsonlAuditSink};
use chatdeploy::core::chat::EventHandler;
use chatdeploy::core::engine::{Engine, PollPolicy};
use chatdeploy::slack::fake::{FakeSlackApi, payloads};
use chatdeploy::slack::{EventsApiListener, SlackSurface};
use chatdeploy::sqlite::SqliteStateStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SECRET: &str = "e2e-signing-secret";
pub const CHANNEL: &str = "C0DEPLOY";
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const EVE: &str = "U0EVE";
pub const BOT_ROLE: &str = "arn:aws:iam::123456789012:role/chatdeploy";

const CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]
[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
version_example = "r-99.1.0"
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}", DeploymentId = "{deployment_id}" }
release_url = "https://github.com/acme/app/releases/tag/{version}"
"#;

/// The one-service configuration the real-binary tests start the bot with
/// (Deploy-App, its approval in the document).
pub const BOT_CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]
[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}", DeploymentId = "{deployment_id}" }
"#;

/// The directory cargo builds the binaries and examples in, next to the
/// test binaries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `path`, after checking that the binary was built.
pub fn binary(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build --all-features --examples --bins`)",
        path.display()
    );
    path
}

pub mod binary;
pub mod replicas;
pub mod waits;

pub struct World {
    pub slack: FakeSlackApi,
    pub emulator: SsmEmulator,
    pub engine: Engine,
    pub addr: SocketAddr,
    pub audit_path: PathBuf,
    pub state_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> Self {
        let emulator = SsmEmulator::builder()
            .step_delay(Duration::from_millis(50))
            .caller_arn(BOT_ROLE)
            .document(
                "Deploy-App",
                include_str!("../../deploy/deploy-app.ssm.yml"),
            );
        Self::start_with(CONFIG, emulator).await
    }

    /// A world on another catalog and emulator set-up.
    pub async fn start_with(
        config: &str,
        emulator: chatdeploy::aws::emulator::SsmEmulatorBuilder,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let emulator = emulator.start().await.unwrap();
        let slack = FakeSlackApi::start().await.unwrap();
        let surface = SlackSurface::builder()
            .with_token("xoxb-e2e")
            .with_api_url(slack.api_url())
            .build()
            .unwrap();
        let audit_path = dir.path().join("audit.jsonl");
        let engine = Engine::builder()
            .with_catalog(Catalog::from_toml_str(config, "e2e.toml").unwrap())
            .with_chat(Arc::new(surface))
            .with_backend(Arc::new(emulator.backend()))
            .with_audit(Arc::new(JsonlAuditSink::open(&audit_path).unwrap()))
            .with_state(Arc::new(
                SqliteStateStore::open(dir.path().join("state.db")).unwrap(),
            ))
            .with_polling(PollPolicy {
                fast: Duration::from_millis(30),
                slow: Duration::from_millis(200),
                waiting: Duration::from_millis(100),
                ..PollPolicy::default()
            })
            .build()
            .unwrap();
        let handler: Arc<dyn EventHandler> = Arc::new(engine.clone());
        let listener = EventsApiListener::new(SECRET, handler).with_bot_user(slack.bot_user());
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        tokio::spawn(async move { listener.serve(tcp, std::future::pending()).await });
        Self {
            slack,
            emulator,
            engine,
            addr,
            audit_path,
            state_path: dir.path().join("state.db"),
            _dir: dir,
        }
    }

    /// POSTs a body signed as Slack signs it; returns the HTTP status.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        retry: Option<u32>,
    ) -> u16 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (timestamp, signature) = payloads::sign(SECRET, now, body.as_bytes());
        let retry = retry
            .map(|n| format!("X-Slack-Retry-Num: {n}\r\nX-Slack-Retry-Reason: http_timeout\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n\
             X-Slack-Signature: {signature}\r\n{retry}Connection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let head = String::from_utf8_lossy(&response);
        head.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// `user` mentions the bot in the deploy channel.
    pub async fn mention(
        &self,
        event_id: &str,
        user: &str,
        text: &str,
        ts: &str,
        retry: Option<u32>,
    ) -> u16 {
        let event = payloads::app_mention(
            user,
            CHANNEL,
            &format!("<@{}> {text}", self.slack.bot_user()),
            ts,
        );
        let body = payloads::event_callback(event_id, event).to_string();
        self.post("/slack/events", "application/json", &body, retry)
            .await
    }

    /// `user` clicks a button of the bot's message `message_ts`.
    pub async fn click(
        &self,
        user: &str,
        action_id: &str,
        deployment: &str,
        message_ts: &str,
    ) -> u16 {
        let payload = payloads::block_actions(user, CHANNEL, message_ts, action_id, deployment);
        let body = payloads::interaction_form(&payload);
        self.post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            None,
        )
        .await
    }

    /// Waits (in real time) until `ready` holds, or panics after `limit`.
    pub async fn wait_until(&self, what: &str, limit: Duration, ready: impl Fn(&Self) -> bool) {
        let start = std::time::Instant::now();
        while !ready(self) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every chat.postMessage so far, as JSON params.
    pub fn posts(&self) -> Vec<Value> {
        self.slack
            .calls_to("chat.postMessage")
            .into_iter()
            .map(|c| c.params)
            .collect()
    }

    /// The approval request's (deployment ID, message ts), once posted.
    pub fn approval_request(&self) -> Option<(String, String)> {
        approval_request(&self.slack)
    }

    /// Alice asks for `deploy app r-99.1.0`; waits for the approval request
    /// and returns its (deployment ID, message ts).
    pub async fn request_release(&self) -> (String, String) {
        let status = self
            .mention(
                "Ev1",
                ALICE,
                "deploy app r-99.1.0",
                "1700000001.000100",
                None,
            )
            .await;
        assert_eq!(status, 200);
        self.wait_until("the approval request", Duration::from_secs(20), |w| {
            w.approval_request().is_some()
        })
        .await;
        self.approval_request().unwrap()
    }

    /// The texts of the channel's (non-ephemeral) messages, as last edited.
    pub fn texts(&self) -> Vec<String> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.ephemeral_to.is_none())
            .map(|m| m.text)
            .collect()
    }

    /// The texts of the ephemeral messages shown to `user`.
    pub fn ephemerals(&self, user: &str) -> Vec<String> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.ephemeral_to.as_deref() == Some(user))
            .map(|m| m.text)
            .collect()
    }

    pub fn audit(&self) -> Vec<AuditEvent> {
        std::fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn audit_count(&self, action: AuditAction) -> usize {
        self.audit().iter().filter(|e| e.action == action).count()
    }
}

/// The bot's approval request in the fake Slack: (deployment ID from the
/// Approve button's value, message ts), once posted.
pub fn approval_request(slack: &FakeSlackApi) -> Option<(String, String)> {
    let message = slack.messages().into_iter().find(|m| {
        m.ephemeral_to.is_none() && m.blocks.to_string().contains("chatdeploy_approve")
    })?;
    let blocks = message.blocks.as_array()?;
    let actions = blocks.iter().find(|b| b["type"] == "actions")?;
    let deployment = actions["elements"][0]["value"].as_str()?.to_owned();
    Some((deployment, message.ts))
}
