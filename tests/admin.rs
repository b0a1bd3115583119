//! The admin listener of the real bot (`slack_ssm --admin 127.0.0.1:0`):
//! a release through Socket Mode shows in `/metrics` with its labels;
//! `/readyz` is 200, then 503 naming Slack when the Socket Mode server goes
//! away and SSM when the emulator does, while `/livez` stays 200. The scrape
//! is written to `target/tmp/metrics-sample.txt` for `promtool check
//! metrics` (in CI, `.ci/run`; here too when promtool is installed).
//!
//! Build the binaries first: `cargo build --all-features --examples` and
//! `cargo build --all-features -p chatdeploy-aws --bin ssm-emulator` (the
//! workspace's `cargo test --all-features` builds both).

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatdeploy::core::audit::{AuditAction, AuditEvent};
use chatdeploy::slack::fake::{FakeSlackApi, FakeSocketModeServer, payloads};
use support::{BOT_CONFIG, binary, target_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);
const SECRET: &str = "admin-test-secret";

/// Starts a process; every `PREFIX http://ADDR` line it prints arrives on
/// the channel as (PREFIX, ADDR).
fn spawn(command: &mut Command) -> (Child, Receiver<(String, String)>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((prefix, addr)) = line.trim().split_once(" http://") {
                let _ = tx.send((prefix.to_owned(), addr.to_owned()));
            }
        }
    });
    (child, rx)
}

/// Waits for the `PREFIX http://ADDR` line with this prefix.
fn announced(rx: &Receiver<(String, String)>, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok((said, addr)) if said == prefix => return addr,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no `{prefix} http://ADDR` line within 30 s");
}

/// A plain HTTP/1.1 request; (status, body).
async fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, "", "").await
}

/// Polls `path` until `done` holds for its answer; the last answer.
async fn until(addr: &str, path: &str, what: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = get(addr, path).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            start.elapsed() < LIMIT,
            "timed out waiting for {what}; last {path}: {status}\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Bed {
    dir: tempfile::TempDir,
    emulator: Child,
    emulator_addr: String,
    slack: FakeSlackApi,
}

impl Bed {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let document = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deploy-app.ssm.yml");
        let (emulator, rx) = spawn(
            Command::new(binary(target_dir().join("ssm-emulator")))
                .args(["--step-delay-ms", "150", "--document"])
                .arg(format!("Deploy-App={document}")),
        );
        let emulator_addr = announced(&rx, "listening on");
        std::fs::write(dir.path().join("chatdeploy.toml"), BOT_CONFIG).unwrap();
        let slack = FakeSlackApi::start().await.unwrap();
        Self {
            dir,
            emulator,
            emulator_addr,
            slack,
        }
    }

    /// The bot with `--admin 127.0.0.1:0` and Socket Mode, or the Events
    /// API with `--listen`.
    fn bot(&self, listen: bool) -> (Child, Receiver<(String, String)>) {
        let dir = self.dir.path();
        let mut command = Command::new(binary(target_dir().join("examples").join("slack_ssm")));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLACK_BOT_TOKEN", "xoxb-admin-test")
            .env("SLACK_API_URL", self.slack.api_url())
            .env("AWS_ENDPOINT_URL", format!("http://{}", self.emulator_addr))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .arg("--config")
            .arg(dir.join("chatdeploy.toml"))
            .arg("--state")
            .arg(dir.join("chatdeploy.db"))
            .arg("--audit")
            .arg(dir.join("audit.jsonl"))
            .args(["--admin", "127.0.0.1:0"]);
        if listen {
            command
                .env("SLACK_SIGNING_SECRET", SECRET)
                .args(["--listen", "127.0.0.1:0"]);
        } else {
            command.env("SLACK_APP_TOKEN", "xapp-admin-test");
        }
        spawn(&mut command)
    }

    fn audit(&self) -> Vec<AuditEvent> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    async fn wait_for(&self, action: AuditAction) {
        let start = Instant::now();
        while !self.audit().iter().any(|e| e.action == action) {
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for {action:?}: {:?}",
                self.audit()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

/// SIGTERM, then the exit status within 20 s (SIGKILL and a panic after).
fn stop(mut bot: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(bot.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = bot.try_wait().unwrap() {
            assert!(status.success(), "the bot exited with {status} on SIGTERM");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = bot.kill();
    let _ = bot.wait();
    panic!("the bot did not exit within 20 s of SIGTERM");
}

/// Checks the scrape with `promtool check metrics` when it is installed
/// (CI installs it and checks the sample file again).
fn promtool_check(scrape: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool is not installed; the scrape is checked in CI");
        return;
    };
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), scrape.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{scrape}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn write_sample(scrape: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-sample.txt");
    std::fs::write(&path, scrape).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_release_in_metrics_and_readiness_names_what_fails() {
    let bed = Bed::start().await;
    let socket = FakeSocketModeServer::start().await.unwrap();
    bed.slack.set_socket_url(socket.url());
    let (bot, rx) = bed.bot(false);
    let admin = announced(&rx, "admin listening on");

    let (status, body) = get(&admin, "/livez").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(socket.wait_for_connections(1, LIMIT).await);
    let ready = until(&admin, "/readyz", "readiness", |status, _| status == 200).await;
    assert_eq!(
        ready,
        "ready\nstate_store: ok\nslack: ok (Socket Mode connected)\nssm: ok\n"
    );

    // A release, requested and approved over Socket Mode.
    let text = format!("<@{}> deploy app r-99.1.0", bed.slack.bot_user());
    let event = payloads::app_mention("U0ALICE", "C0DEPLOY", &text, "1700000001.000100");
    assert!(socket.push_events_api("Env1", 0, payloads::event_callback("EvAdmin1", event)));
    let start = Instant::now();
    let (deployment, ts) = loop {
        if let Some(request) = support::approval_request(&bed.slack) {
            break request;
        }
        assert!(start.elapsed() < LIMIT, "no approval request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let click =
        payloads::block_actions("U0BOB", "C0DEPLOY", &ts, "chatdeploy_approve", &deployment);
    assert!(socket.push_interactive("Env2", click));
    // A repeat of the first envelope: dropped by the listener.
    let event = payloads::app_mention("U0ALICE", "C0DEPLOY", &text, "1700000001.000100");
    assert!(socket.push_events_api("Env1", 1, payloads::event_callback("EvAdmin1", event)));
    bed.wait_for(AuditAction::Succeeded).await;

    let scrape = until(&admin, "/metrics", "the release counter", |_, body| {
        body.contains(
            r#"chatdeploy_releases_total{service="app",environment="production",outcome="succeeded"} 1"#,
        )
    })
    .await;
    for expected in [
        "# TYPE chatdeploy_releases_total counter",
        "# HELP chatdeploy_releases_total Releases finished, by outcome.",
        r#"chatdeploy_release_duration_seconds_bucket{service="app",environment="production",outcome="succeeded",le="10"}"#,
        r#"chatdeploy_release_duration_seconds_count{service="app",environment="production",outcome="succeeded"} 1"#,
        r#"chatdeploy_approval_wait_seconds_bucket{service="app",environment="production",decision="approved",le="30"} 1"#,
        r#"chatdeploy_releases_in_flight{service="app"} 0"#,
        r#"chatdeploy_slack_events_received_total{transport="socket_mode",kind="event"} 2"#,
        r#"chatdeploy_slack_events_received_total{transport="socket_mode",kind="interaction"} 1"#,
        r#"chatdeploy_events_deduplicated_total{layer="listener"} 1"#,
        r#"chatdeploy_slack_api_calls_total{method="chat.postMessage"}"#,
        r#"chatdeploy_aws_api_calls_total{service="ssm",operation="StartAutomationExecution"} 1"#,
        r#"chatdeploy_aws_api_calls_total{service="sts",operation="GetCallerIdentity"}"#,
        "chatdeploy_slack_socket_mode_connected 1",
        "chatdeploy_build_info{version=",
    ] {
        assert!(scrape.contains(expected), "{expected} not in\n{scrape}");
    }
    let (_, headers) = {
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
        let mut stream = tokio::net::TcpStream::connect(&admin).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        ((), response)
    };
    assert!(
        headers.contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    promtool_check(&scrape);
    write_sample(&scrape);
    assert_eq!(get(&admin, "/nothing").await.0, 404);

    // Slack goes away: not ready, naming Slack; still live.
    socket.drop_connection();
    drop(socket);
    let ready = until(&admin, "/readyz", "Slack failing", |status, body| {
        status == 503 && body.contains("slack: failing")
    })
    .await;
    assert!(ready.starts_with("not ready\n"), "{ready}");
    assert!(ready.contains("state_store: ok\n"), "{ready}");
    assert_eq!(get(&admin, "/livez").await.0, 200);
    let scrape = get(&admin, "/metrics").await.1;
    assert!(
        scrape.contains("chatdeploy_slack_socket_mode_connected 0"),
        "{scrape}"
    );

    // SSM goes away too: named as well (its answer is reused for 5 s).
    let mut bed = bed;
    bed.emulator.kill().unwrap();
    bed.emulator.wait().unwrap();
    let ready = until(&admin, "/readyz", "SSM failing", |status, body| {
        status == 503 && body.contains("ssm: failing")
    })
    .await;
    assert!(ready.contains("slack: failing"), "{ready}");
    eprintln!("/readyz with Slack and SSM gone:\n{ready}");
    assert_eq!(get(&admin, "/livez").await.0, 200);
    stop(bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_readiness_and_refusals() {
    let bed = Bed::start().await;
    let (bot, rx) = bed.bot(true);
    let admin = announced(&rx, "admin listening on");
    let events = announced(&rx, "listening on");
    let ready = until(&admin, "/readyz", "readiness", |status, _| status == 200).await;
    assert!(
        ready.contains(&format!("slack: ok (Events API listening on {events})")),
        "{ready}"
    );

    // A signed mention, and one with a bad signature.
    let text = format!("<@{}> status", bed.slack.bot_user());
    let event = payloads::app_mention("U0ALICE", "C0DEPLOY", &text, "1700000002.000100");
    let body = payloads::event_callback("EvAdmin2", event).to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (timestamp, signature) = payloads::sign(SECRET, now, body.as_bytes());
    let signed = format!(
        "Content-Type: application/json\r\nX-Slack-Request-Timestamp: {timestamp}\r\n\
         X-Slack-Signature: {signature}\r\n"
    );
    let (status, _) = http(&events, "POST", "/slack/events", &signed, &body).await;
    assert_eq!(status, 200);
    let forged = signed.replace(&signature, "v0=00");
    let (status, _) = http(&events, "POST", "/slack/events", &forged, &body).await;
    assert_eq!(status, 401);

    let scrape = until(&admin, "/metrics", "the events counters", |_, body| {
        body.contains(r#"chatdeploy_slack_events_received_total{transport="events_api",kind="event"} 1"#)
            && body.contains(
                r#"chatdeploy_slack_events_refused_total{transport="events_api",reason="bad_signature"} 1"#,
            )
    })
    .await;
    promtool_check(&scrape);
    stop(bot);
}
