//! The whole product offline: no credentials, no network.
//!
//! An SSM Automation emulator (driven by the real AWS SDK over loopback)
//! runs the sample documents from `deploy/`, the real engine keeps its state
//! in SQLite and its audit log in a JSONL file (both in a temp directory),
//! and the deploy channel is this terminal. Type lines such as:
//!
//! ```text
//! alice: deploy app r-99.1.0
//! bob: approve app
//! alice: status
//! ```
//!
//! alice and dave may deploy, bob and carol approve, anyone else may read.
//! When stdin is not a terminal the lines are a script: before each line the
//! demo waits until every release is finished or waiting on a person, and it
//! exits 0 once the input ends and nothing is left running:
//!
//! ```text
//! printf 'alice: deploy app r-99.1.0\nbob: approve app\n' | cargo run --example demo
//! ```

mod terminal;

/// `println!` that ends the demo quietly when stdout is closed (e.g. piped
/// into `head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chatdeploy::aws::SsmEmulator;
use chatdeploy::core::Catalog;
use chatdeploy::core::audit::JsonlAuditSink;
use chatdeploy::core::chat::ChatEvent;
use chatdeploy::core::engine::{Engine, PollPolicy};
use chatdeploy::sqlite::SqliteStateStore;
use tokio::io::{AsyncBufReadExt, BufReader};

use terminal::TerminalChatSurface;

/// Core's IDs are opaque: the demo names people and the channel plainly.
const CHANNEL: &str = "deploy";
/// The IAM identity the emulator attributes the bot's signals to; the
/// sample document names it as its approver.
const BOT_ROLE: &str = "arn:aws:iam::123456789012:role/chatdeploy";

const CONFIG: &str = r#"
[chat]
deploy_channels = ["deploy"]

[roles]
deployers = ["alice", "dave"]
approvers = ["bob", "carol"]

[approval]
timeout = "30m"

[services.app]
aliases = ["api"]
description = "Main API (approved at its automation's aws:approve step)"
version_pattern = '^r-\d+\.\d+\.\d+$'
version_example = "r-99.1.0"
document = "Deploy-App"
approval = "document"
environments = ["production", "staging"]
parameters = { ReleaseVersion = "{version}", Environment = "{env}", RequestedBy = "{requester}", DeploymentId = "{deployment_id}" }
release_url = "https://github.com/acme/app/releases/tag/{version}"
runbook = "https://wiki.acme.dev/runbooks/app"

[services.ui]
aliases = ["web"]
description = "Web front end (approved in chat before it starts)"
version_pattern = '^r-\d+\.\d+\.\d+$'
version_example = "r-99.1.0"
document = "Deploy-UI"
approval = "before_start"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}" }
release_url = "https://github.com/acme/ui/releases/tag/{version}"
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = demo_dir()?;
    let audit_path = dir.join("audit.jsonl");
    let state_path = dir.join("chatdeploy.db");

    let emulator = SsmEmulator::builder()
        .step_delay(Duration::from_millis(1200))
        .caller_arn(BOT_ROLE)
        .document(
            "Deploy-App",
            include_str!("../../deploy/deploy-app.ssm.yml"),
        )
        .document("Deploy-UI", include_str!("../../deploy/deploy-ui.ssm.yml"))
        .start()
        .await
        .context("starting the SSM emulator")?;
    let chat = Arc::new(TerminalChatSurface::new());
    let engine = Engine::builder()
        .with_catalog(Catalog::from_toml_str(CONFIG, "demo.toml")?)
        .with_chat(chat.clone())
        .with_backend(Arc::new(emulator.backend()))
        .with_audit(Arc::new(JsonlAuditSink::open(&audit_path)?))
        .with_state(Arc::new(
            SqliteStateStore::open(&state_path).context("opening the demo state")?,
        ))
        .with_polling(PollPolicy {
            fast: Duration::from_millis(300),
            slow: Duration::from_secs(2),
            waiting: Duration::from_secs(1),
            ..PollPolicy::default()
        })
        .build()?;

    out!(
        "chatdeploy demo: #deploy is this terminal; the SSM emulator runs at {}",
        emulator.url()
    );
    out!("audit log: {}", audit_path.display());
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        out!(
            "Type `name: command`, e.g. `alice: deploy app r-99.1.0`, then `bob: approve app`.\n\
             alice and dave deploy, bob and carol approve, anyone else may read. Ctrl-D ends."
        );
        let printer = tokio::spawn(print_forever(chat.clone()));
        run(&engine, &chat, false).await?;
        printer.abort();
    } else {
        run(&engine, &chat, true).await?;
    }
    engine.until_settled().await;
    print_lines(&chat);
    let waiting = engine.supervised();
    if waiting > 0 {
        out!(
            "({waiting} release(s) still wait for a person; their state is in {})",
            state_path.display()
        );
    }
    out!("audit log: {}", audit_path.display());
    Ok(())
}

/// Reads `name: command` lines until the input ends.
async fn run(engine: &Engine, chat: &TerminalChatSurface, script: bool) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut n = 0u64;
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if script {
            engine.until_settled().await;
            print_lines(chat);
            out!("{line}");
        }
        let Some((name, text)) = line.split_once(':') else {
            out!("  (type `name: command`, for example `alice: deploy app r-99.1.0`)");
            continue;
        };
        let user = match user_id(name.trim()) {
            Ok(user) => user,
            Err(error) => {
                out!("  ({error})");
                continue;
            }
        };
        n += 1;
        let event = ChatEvent::command(format!("EvDemo{n}"), user, CHANNEL, text.trim())
            .with_message(format!("1800000000.{n:06}"));
        engine.handle(event).await;
    }
    Ok(())
}

/// The user ID of a demo name: the name itself, in lower case.
fn user_id(name: &str) -> anyhow::Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("`{name}` is not a name; start the line with a name like `alice:`");
    }
    Ok(name.to_ascii_lowercase())
}

fn print_lines(chat: &TerminalChatSurface) {
    for line in chat.drain() {
        out!("{line}");
    }
}

async fn print_forever(chat: Arc<TerminalChatSurface>) {
    loop {
        print_lines(&chat);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh directory for this run's state and audit log, kept after the
/// run for a look at the audit log. Never an old one: a process ID is
/// reused, and an old state would take this run's events for redeliveries.
fn demo_dir() -> anyhow::Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("chatdeploy-demo-")
        .tempdir()
        .context("creating the demo's directory")?;
    Ok(dir.keep())
}
