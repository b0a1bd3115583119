//! Crash safety: the real bot binary (`slack_ssm`, Events API, SQLite
//! state, JSONL audit) is killed with SIGKILL at each stage of a release and
//! started again. The SSM emulator runs as its own process and outlives the
//! bot; the fake Slack Web API lives in this test process. Each release must
//! complete exactly once: one execution, one approval signal, each audit
//! record once, and the lock released. The same bed also runs the binary's
//! `--check` preflight and its refusal of a corrupt state file.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatdeploy::core::audit::{AuditAction, AuditEvent};
use chatdeploy::core::state::StateStore;
use chatdeploy::slack::fake::{FakeSlackApi, payloads};
use chatdeploy::sqlite::SqliteStateStore;
use serde_json::{Value, json};
use support::{BOT_CONFIG, binary, target_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "kill-test-secret";
const LIMIT: Duration = Duration::from_secs(60);

/// Starts a process and waits for its `listening on http://ADDR` line.
fn spawn_listening(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the process announces its address");
    (child, addr)
}

struct Bed {
    dir: tempfile::TempDir,
    emulator: Child,
    emulator_addr: String,
    slack: FakeSlackApi,
    /// Extra arguments of every bot start.
    bot_args: Vec<String>,
}

impl Bed {
    async fn start() -> Self {
        let document = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deploy-app.ssm.yml");
        let document = std::fs::read_to_string(document).unwrap();
        Self::start_with(BOT_CONFIG, &[("Deploy-App", &document)], &[]).await
    }

    /// A bed on another configuration, documents and emulator identities
    /// (access key, ARN).
    async fn start_with(
        config: &str,
        documents: &[(&str, &str)],
        identities: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut emulator = Command::new(binary(target_dir().join("ssm-emulator")));
        emulator.args(["--step-delay-ms", "150"]);
        for (name, content) in documents {
            let path = dir.path().join(format!("{name}.yml"));
            std::fs::write(&path, content).unwrap();
            emulator
                .arg("--document")
                .arg(format!("{name}={}", path.display()));
        }
        for (key, arn) in identities {
            emulator.arg("--identity").arg(format!("{key}={arn}"));
        }
        let (emulator, emulator_addr) = spawn_listening(&mut emulator);
        std::fs::write(dir.path().join("chatdeploy.toml"), config).unwrap();
        let slack = FakeSlackApi::start().await.unwrap();
        Self {
            dir,
            emulator,
            emulator_addr,
            slack,
            bot_args: Vec::new(),
        }
    }

    /// The bot's command line: fake Slack, the emulator, files in the
    /// test's directory, the Events API on a free port.
    fn bot_command(&self, state: &Path) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new(binary(target_dir().join("examples").join("slack_ssm")));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLACK_BOT_TOKEN", "xoxb-kill-test")
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("SLACK_API_URL", self.slack.api_url())
            .env("AWS_ENDPOINT_URL", format!("http://{}", self.emulator_addr))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            // Never probe the EC2 metadata service from a test.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .arg("--config")
            .arg(dir.join("chatdeploy.toml"))
            .arg("--state")
            .arg(state)
            .arg("--audit")
            .arg(dir.join("audit.jsonl"))
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.bot_args);
        command
    }

    /// Starts the bot; returns it and its Events API address.
    fn bot(&self) -> (Child, String) {
        spawn_listening(&mut self.bot_command(&self.dir.path().join("chatdeploy.db")))
    }

    fn audit(&self) -> Vec<AuditEvent> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn count(&self, action: AuditAction) -> usize {
        self.audit().iter().filter(|e| e.action == action).count()
    }

    async fn wait_for(&self, action: AuditAction) {
        let start = Instant::now();
        while self.count(action) == 0 {
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for {action:?}: {:?}",
                self.audit()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Calls the emulator with SSM's wire protocol.
    async fn ssm(&self, operation: &str, body: Value) -> Value {
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {0}\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AmazonSSM.{operation}\r\nContent-Length: {1}\r\nConnection: close\r\n\r\n{body}",
            self.emulator_addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&self.emulator_addr)
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (_, json) = response.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(json).unwrap_or(Value::Null)
    }

    /// Tells the emulator what to do (its `/_emulator/…` test control).
    async fn control(&self, path: &str, body: Value) {
        let body = body.to_string();
        let request = format!(
            "POST /_emulator/{path} HTTP/1.1\r\nHost: {0}\r\nContent-Type: application/json\r\n\
             Content-Length: {1}\r\nConnection: close\r\n\r\n{body}",
            self.emulator_addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&self.emulator_addr)
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 204"), "{path}: {response}");
    }

    async fn executions(&self) -> Vec<Value> {
        let listed = self.ssm("DescribeAutomationExecutions", json!({})).await;
        listed["AutomationExecutionMetadataList"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// How many approval decisions the execution's approval step recorded.
    async fn decisions(&self, execution: &str) -> usize {
        let got = self
            .ssm(
                "GetAutomationExecution",
                json!({"AutomationExecutionId": execution}),
            )
            .await;
        got["AutomationExecution"]["StepExecutions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"] == "aws:approve")
            .map(|s| {
                s["Outputs"]["ApproverDecisions"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .sum()
    }

    async fn post(&self, bot: &str, path: &str, content_type: &str, body: &str) -> u16 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (timestamp, signature) = payloads::sign(SECRET, now, body.as_bytes());
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {bot}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n\
             X-Slack-Signature: {signature}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(bot).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    async fn deploy(&self, bot: &str) {
        let text = format!("<@{}> deploy app r-99.1.0", self.slack.bot_user());
        let event = payloads::app_mention("U0ALICE", "C0DEPLOY", &text, "1700000001.000100");
        let body = payloads::event_callback("EvKill1", event).to_string();
        assert_eq!(
            self.post(bot, "/slack/events", "application/json", &body)
                .await,
            200
        );
    }

    async fn approve(&self, bot: &str) {
        let (deployment, ts) = self
            .approval_request()
            .expect("an approval request was posted");
        let payload =
            payloads::block_actions("U0BOB", "C0DEPLOY", &ts, "chatdeploy_approve", &deployment);
        let body = payloads::interaction_form(&payload);
        let status = self
            .post(
                bot,
                "/slack/interactions",
                "application/x-www-form-urlencoded",
                &body,
            )
            .await;
        assert_eq!(status, 200);
    }

    fn approval_request(&self) -> Option<(String, String)> {
        support::approval_request(&self.slack)
    }

    async fn wait_for_approval_request(&self) {
        let start = Instant::now();
        while self.approval_request().is_none() {
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for the approval request"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the bot has stored the approval request's message: the
    /// release is then waiting for people. (The request is posted, audited,
    /// then stored; a crash before the store posts it again on restart, as
    /// a post to Slack and a write to the state file cannot be one step.)
    async fn wait_until_waiting_for_approval(&self) {
        let start = Instant::now();
        let state =
            SqliteStateStore::open_read_only(self.dir.path().join("chatdeploy.db")).unwrap();
        loop {
            let in_flight = state.in_flight().await.unwrap();
            if in_flight
                .iter()
                .any(|r| r.approval.as_ref().is_some_and(|w| w.message.is_some()))
            {
                return;
            }
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for the stored approval request: {in_flight:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Checks the one release completed exactly once.
    async fn assert_completed_once(&self) {
        let executions = self.executions().await;
        assert_eq!(executions.len(), 1, "{executions:?}");
        assert_eq!(executions[0]["AutomationExecutionStatus"], "Success");
        let id = executions[0]["AutomationExecutionId"].as_str().unwrap();
        assert_eq!(self.decisions(id).await, 1, "one approval signal");
        for action in [
            AuditAction::Requested,
            AuditAction::Started,
            AuditAction::ApprovalRequested,
            AuditAction::Approved,
            AuditAction::Signalled,
            AuditAction::Succeeded,
        ] {
            assert_eq!(self.count(action), 1, "{action:?} in {:?}", self.audit());
        }
        let state =
            SqliteStateStore::open_read_only(self.dir.path().join("chatdeploy.db")).unwrap();
        assert!(
            state.lock("app").await.unwrap().is_none(),
            "the lock is released"
        );
        assert!(state.in_flight().await.unwrap().is_empty());
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

fn kill9(mut bot: Child) {
    bot.kill().unwrap(); // SIGKILL on unix
    bot.wait().unwrap();
}

/// Stops the bot gracefully at the end (SIGTERM): its listener must stop,
/// its releases settle, and the process exit 0 well within the 10 s it
/// gives supervisors.
fn stop(bot: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(bot.id().to_string())
        .status();
    let mut bot = bot;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = bot.try_wait().unwrap() {
            assert!(status.success(), "the bot exited with {status} on SIGTERM");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(bot);
    panic!("the bot did not exit within 20 s of SIGTERM");
}

async fn wait_for_success(bed: &Bed) {
    let start = Instant::now();
    while bed.count(AuditAction::Succeeded) == 0 {
        assert!(
            start.elapsed() < LIMIT,
            "timed out waiting for success: {:?}",
            bed.audit()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_just_after_the_request() {
    let bed = Bed::start().await;
    let (bot, addr) = bed.bot();
    bed.deploy(&addr).await;
    bed.wait_for(AuditAction::Requested).await;
    kill9(bot);

    let (bot, addr) = bed.bot();
    bed.wait_for_approval_request().await;
    bed.approve(&addr).await;
    wait_for_success(&bed).await;
    stop(bot);
    bed.assert_completed_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_just_after_the_start() {
    let bed = Bed::start().await;
    let (bot, addr) = bed.bot();
    bed.deploy(&addr).await;
    bed.wait_for(AuditAction::Started).await;
    kill9(bot);

    let (bot, addr) = bed.bot();
    bed.wait_for_approval_request().await;
    bed.approve(&addr).await;
    wait_for_success(&bed).await;
    stop(bot);
    bed.assert_completed_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_waiting_for_approval() {
    let bed = Bed::start().await;
    let (bot, addr) = bed.bot();
    bed.deploy(&addr).await;
    bed.wait_for(AuditAction::ApprovalRequested).await;
    bed.wait_until_waiting_for_approval().await;
    kill9(bot);

    let (bot, addr) = bed.bot();
    bed.approve(&addr).await;
    wait_for_success(&bed).await;
    stop(bot);
    bed.assert_completed_once().await;
    let requests = bed
        .slack
        .messages()
        .into_iter()
        .filter(|m| {
            m.blocks.to_string().contains("approval needed") || m.text.contains("approval needed")
        })
        .count();
    assert!(requests <= 1, "one approval request, not one per start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_just_after_the_approval_signal() {
    let bed = Bed::start().await;
    let (bot, addr) = bed.bot();
    bed.deploy(&addr).await;
    bed.wait_for_approval_request().await;
    bed.approve(&addr).await;
    bed.wait_for(AuditAction::Signalled).await;
    kill9(bot);

    let (bot, _addr) = bed.bot();
    wait_for_success(&bed).await;
    stop(bot);
    bed.assert_completed_once().await;
}

/// Sanity check of the harness itself: the bot refuses to start on a
/// corrupt state file and leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_stops_the_start_untouched() {
    let bed = Bed::start().await;
    let db = bed.dir.path().join("chatdeploy.db");
    std::fs::write(&db, b"this is not a database").unwrap();
    let output = bed_bot_output(&bed, &db);
    assert!(!output.0.success());
    assert!(output.1.contains("chatdeploy.db"), "{}", output.1);
    assert_eq!(std::fs::read(&db).unwrap(), b"this is not a database");
}

/// Runs a bot that must exit by itself: its status and stderr, or a panic
/// (after killing it) when it is still running after 30 s.
fn bed_bot_output(bed: &Bed, db: &Path) -> (std::process::ExitStatus, String) {
    let mut child = bed
        .bot_command(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the bot did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// `--check` against the emulator and the fake Slack: documents and their
/// parameters, the bot's permissions, the token, channel membership; a
/// problem fails the check, and so does a part not checked (the
/// permissions, when the simulation is refused) unless `--allow-skip`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_documents_parameters_and_channels() {
    let bed = Bed::start().await;
    let state = bed.dir.path().join("chatdeploy.db");
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "ok    permissions: the 9 actions the bot uses are allowed for \
             arn:aws:iam::123456789012:role/chatdeploy (10 action and resource pairs simulated \
             with iam:SimulatePrincipalPolicy)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    app: document Deploy-App and its parameters"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    the bot is in <#C0DEPLOY>"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ok    app: approval step ApproveRelease answerable by the bot \
             (arn:aws:iam::123456789012:role/chatdeploy)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("check passed"), "{stdout}");

    // A denied action: a FAIL naming it, its resource and what to grant.
    bed.control(
        "policy",
        json!({"Action": "ssm:SendAutomationSignal", "Decision": "implicitDeny"}),
    )
    .await;
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL  permissions: ssm:SendAutomationSignal on \
             arn:aws:ssm:us-east-1:123456789012:automation-execution/* is denied to \
             arn:aws:iam::123456789012:role/chatdeploy (implicitDeny): the bot cannot answer the \
             approval step of releases of app; allow ssm:SendAutomationSignal on \
             arn:aws:ssm:us-east-1:123456789012:automation-execution/* as statement \
             WatchApproveAndStopOnlyChatdeploysExecutions of deploy/iam-policy.json does"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("ok    permissions"), "{stdout}");
    assert!(stdout.contains("check found 1 problem(s)"), "{stdout}");

    // The simulation refused: a skip, which fails the check unless
    // --allow-skip.
    bed.control(
        "policy",
        json!({"Action": "ssm:SendAutomationSignal", "Decision": "allowed"}),
    )
    .await;
    bed.control(
        "deny",
        json!({"Operation": "SimulatePrincipalPolicy", "Denied": true}),
    )
    .await;
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "skip  permissions: not verified: AWS refused iam:SimulatePrincipalPolicy on \
             arn:aws:iam::123456789012:role/chatdeploy"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "grant iam:SimulatePrincipalPolicy on the bot's own role \
             (arn:aws:iam::123456789012:role/chatdeploy) to let check verify them"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("check incomplete"), "{stdout}");
    let output = bed
        .bot_command(&state)
        .args(["--check", "--allow-skip"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("check passed with 1 part(s) not checked (--allow-skip): permissions"),
        "{stdout}"
    );
    bed.control(
        "deny",
        json!({"Operation": "SimulatePrincipalPolicy", "Denied": false}),
    )
    .await;

    bed.slack.remove_bot_from("C0DEPLOY");
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL  the bot is not in <#C0DEPLOY>: type `/invite @deploybot` there"),
        "{stdout}"
    );
}

/// The release-during-the-wait table of `wait_endings.rs`, against the real
/// binary killed with SIGKILL while the release waits at its approval step,
/// then started again: each ending is still shown and audited as it
/// happened, once.
mod killed_during_the_wait {
    use std::sync::Mutex;

    use chatdeploy::core::audit::AuditEvent;
    use chatdeploy::core::state::{ReleaseRecord, StateStore};
    use chatdeploy::slack::fake::{FakeSlackApi, payloads};
    use chatdeploy::sqlite::SqliteStateStore;

    use super::support::waits::{self, Act, Bot};
    use super::{Bed, kill9, stop};

    struct Killable {
        bed: Bed,
        addr: Mutex<String>,
    }

    impl Killable {
        fn addr(&self) -> String {
            self.addr.lock().unwrap().clone()
        }
    }

    impl Bot for Killable {
        async fn mention(&self, event_id: &str, user: &str, text: &str, ts: &str) {
            let text = format!("<@{}> {text}", self.bed.slack.bot_user());
            let event = payloads::app_mention(user, "C0DEPLOY", &text, ts);
            let body = payloads::event_callback(event_id, event).to_string();
            let status = self
                .bed
                .post(&self.addr(), "/slack/events", "application/json", &body)
                .await;
            assert_eq!(status, 200);
        }
        async fn click(&self, user: &str, action_id: &str, deployment: &str, ts: &str) {
            let payload = payloads::block_actions(user, "C0DEPLOY", ts, action_id, deployment);
            let body = payloads::interaction_form(&payload);
            let content = "application/x-www-form-urlencoded";
            let status = self
                .bed
                .post(&self.addr(), "/slack/interactions", content, &body)
                .await;
            assert_eq!(status, 200);
        }
        fn slack(&self) -> &FakeSlackApi {
            &self.bed.slack
        }
        fn emulator_url(&self) -> String {
            format!("http://{}", self.bed.emulator_addr)
        }
        fn audit(&self) -> Vec<AuditEvent> {
            self.bed.audit()
        }
        async fn history(&self, service: &str) -> Vec<ReleaseRecord> {
            let state = SqliteStateStore::open_read_only(self.bed.dir.path().join("chatdeploy.db"))
                .unwrap();
            state.history(service, 10).await.unwrap()
        }
    }

    async fn case(act: Act) {
        let quick = waits::document(waits::QUICK_TIMEOUT);
        let app = waits::document(3600);
        let mut bed = Bed::start_with(
            waits::CONFIG,
            &[("Deploy-App", &app), ("Deploy-Quick", &quick)],
            &[(waits::CONSOLE_KEY, waits::CONSOLE_HUMAN)],
        )
        .await;
        // Notice console decisions within half a second, not 30.
        bed.bot_args = vec!["--poll-waiting".into(), "500ms".into()];
        let (bot, addr) = bed.bot();
        let running = Killable {
            bed,
            addr: Mutex::new(addr),
        };
        waits::start(&running, act).await;
        let execution = waits::execution(&running).await;
        running.bed.wait_until_waiting_for_approval().await;
        kill9(bot);

        let (bot, addr) = running.bed.bot();
        *running.addr.lock().unwrap() = addr;
        waits::perform(&running, act, &execution).await;
        let label = format!("{act:?}, killed during the wait");
        waits::check_outcome_only(&running, act, &label).await;
        let taken = waits::bot_decisions(&running.emulator_url(), &execution).await;
        waits::check(&running, act, &label, taken).await;
        stop(bot);
        let requests = running
            .bed
            .slack
            .calls_to("chat.postMessage")
            .into_iter()
            .filter(|c| c.params.to_string().contains("chatdeploy_approve"))
            .count();
        assert_eq!(
            requests, 1,
            "{label}: one approval request, not one per start"
        );
    }

    const CHAT: &[Act] = &[
        Act::ChatApprove,
        Act::ChatRejectWithReason,
        Act::TwoApprovals,
        Act::ChatCancel,
    ];
    const AWS: &[Act] = &[
        Act::SignalRefusedThenConsoleApprove,
        Act::ConsoleApprove,
        Act::ConsoleRejectWithComment,
        Act::ConsoleStop,
    ];
    const NOBODY: &[Act] = &[Act::StepTimeout, Act::FailureDuringWait];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat_decisions() {
        for act in CHAT {
            case(*act).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decisions_in_aws() {
        for act in AWS {
            case(*act).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endings_nobody_decided() {
        for act in NOBODY {
            case(*act).await;
        }
    }

    /// The three groups above run every ending of the table, each once.
    #[test]
    fn the_groups_cover_the_table() {
        let mut grouped: Vec<Act> = [CHAT, AWS, NOBODY].concat();
        for act in waits::ALL {
            let at = grouped.iter().position(|a| *a == act);
            assert!(at.is_some(), "{act:?} is in no group");
            grouped.remove(at.unwrap_or_default());
        }
        assert!(
            grouped.is_empty(),
            "in a group twice or not in the table: {grouped:?}"
        );
    }
}

/// `--check` fails a service whose approval lives in a document that has no
/// approval step, or one the bot may not answer, and says what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_an_approval_gate_the_bot_cannot_pass() {
    let no_step = "schemaVersion: '0.3'\nparameters:\n  ReleaseVersion:\n    type: String\n  RequestedBy:\n    type: String\n  DeploymentId:\n    type: String\nmainSteps:\n  - name: Rollout\n    action: aws:sleep\n    inputs:\n      Duration: PT1S\n";
    let bed = Bed::start_with(BOT_CONFIG, &[("Deploy-App", no_step)], &[]).await;
    let state = bed.dir.path().join("chatdeploy.db");
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL  service app: document Deploy-App has no approval step"),
        "{stdout}"
    );

    let other = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deploy-app.ssm.yml"
    ))
    .unwrap()
    .replace(
        "default: arn:aws:iam::123456789012:role/chatdeploy\n",
        "default: arn:aws:iam::123456789012:user/someone-else\n",
    );
    let bed = Bed::start_with(BOT_CONFIG, &[("Deploy-App", &other)], &[]).await;
    let output = bed.bot_command(&state).arg("--check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("is not an approver of document Deploy-App's approval step ApproveRelease"),
        "{stdout}"
    );
}

/// SQLite keeps the state of one bot process: a second bot on the same
/// file refuses to start, and its sentence points to PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_sqlite_file_refuses_to_start() {
    let bed = Bed::start().await;
    let (bot, _addr) = bed.bot();
    let db = bed.dir.path().join("chatdeploy.db");
    let (status, stderr) = bed_bot_output(&bed, &db);
    stop(bot);
    assert!(!status.success());
    assert!(
        stderr.contains("is in use by another chatdeploy process"),
        "{stderr}"
    );
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
}
