//! The installed `chatdeploy` binary as its user runs it: against the SSM
//! emulator and the fake Slack Web API on loopback, with a clean
//! environment (nothing of the developer's AWS or Slack set-up leaks in).

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use chatdeploy::aws::SsmEmulator;
use chatdeploy::slack::fake::{FakeSlackApi, payloads};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BOT_CONFIG;

pub const SECRET: &str = "binary-signing-secret";
pub const CHANNEL: &str = "C0DEPLOY";
pub const ALICE: &str = "U0ALICE";

/// The emulator, the fake Slack and a directory with the configuration.
pub struct Bed {
    pub dir: tempfile::TempDir,
    pub emulator: SsmEmulator,
    pub slack: FakeSlackApi,
}

impl Bed {
    pub async fn start() -> Self {
        let document = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deploy-app.ssm.yml");
        let document = std::fs::read_to_string(document).unwrap();
        let emulator = SsmEmulator::builder()
            .document("Deploy-App", document)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chatdeploy.toml"), BOT_CONFIG).unwrap();
        let slack = FakeSlackApi::start().await.unwrap();
        Self {
            dir,
            emulator,
            slack,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `chatdeploy ARGS…` with the Slack and AWS settings of a working
    /// set-up (Events API), files in the bed's directory.
    pub fn chatdeploy(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatdeploy"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SLACK_BOT_TOKEN", "xoxb-binary-test")
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("SLACK_API_URL", self.slack.api_url())
            .env("AWS_ENDPOINT_URL", self.emulator.url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .args(args)
            .arg("--config")
            .arg(self.path("chatdeploy.toml"))
            .arg("--state")
            .arg(self.path("chatdeploy.db"))
            .arg("--audit")
            .arg(self.path("audit.jsonl"));
        command
    }
}

/// POSTs an `app_mention` of the bot by `user`, signed as Slack signs it;
/// returns the HTTP status.
pub async fn mention(addr: &str, bot: &str, event_id: &str, user: &str, text: &str) -> u16 {
    let event = payloads::app_mention(
        user,
        CHANNEL,
        &format!("<@{bot}> {text}"),
        "1800000000.000100",
    );
    let body = payloads::event_callback(event_id, event).to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (timestamp, signature) = payloads::sign(SECRET, now, body.as_bytes());
    let request = format!(
        "POST /slack/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n\
         X-Slack-Signature: {signature}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let head = String::from_utf8_lossy(&response);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}
