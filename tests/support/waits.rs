//! Every way an approval wait at a document's approval step can end, as a
//! table shared by the in-process end-to-end test and the kill-9 harness:
//! what to do, and what the thread, the audit log and the history must
//! then say. Drivers implement [`Bot`].
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::SignalType;
use chatdeploy::core::audit::{AuditAction, AuditEvent};
use chatdeploy::core::backend::Signal;
use chatdeploy::core::state::{Actor, ReleaseRecord, Stage};
use chatdeploy::slack::fake::FakeSlackApi;
use serde_json::Value;

pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const CAROL: &str = "U0CAROL";
pub const BOT_ROLE: &str = "arn:aws:iam::123456789012:role/chatdeploy";
/// The bot's access key (as the process bot and the in-process backend sign).
pub const BOT_KEY: &str = "test";
/// A person with their own AWS credentials, listed as an approver.
pub const CONSOLE_KEY: &str = "OPSKEY";
pub const CONSOLE_HUMAN: &str = "arn:aws:iam::123456789012:user/ops-oncall";
/// Who the bot's key maps to after "its role changed": not an approver.
pub const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/not-an-approver";

/// Approvers: the bot's role and a person; the step times out in AWS after
/// `timeoutSeconds` (long, except in `Deploy-Quick`).
pub const DOCUMENT: &str = "schemaVersion: '0.3'
parameters:
  ReleaseVersion:
    type: String
    allowedPattern: '^r-\\d+\\.\\d+\\.\\d+$'
  RequestedBy:
    type: String
  Approver:
    type: String
    default: arn:aws:iam::123456789012:role/chatdeploy
mainSteps:
  - name: Prepare
    action: aws:sleep
    inputs:
      Duration: PT0.2S
  - name: ApproveRelease
    action: aws:approve
    timeoutSeconds: TIMEOUT
    inputs:
      Approvers:
        - '{{ Approver }}'
        - arn:aws:iam::123456789012:user/ops-oncall
      MinRequiredApprovals: 1
  - name: Rollout
    action: aws:sleep
    inputs:
      Duration: PT0.3S
";

/// The document, with the approval step's timeout in seconds.
pub fn document(timeout_seconds: u64) -> String {
    DOCUMENT.replace("TIMEOUT", &timeout_seconds.to_string())
}

pub const CONFIG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB", "U0CAROL"]
[services.app]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}" }
[services.db]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-App"
approval = "document"
min_approvals = 2
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}" }
[services.quick]
version_pattern = '^r-\d+\.\d+\.\d+$'
document = "Deploy-Quick"
approval = "document"
parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}" }
"#;

/// The approval step's timeout in `Deploy-Quick`, seconds.
pub const QUICK_TIMEOUT: u64 = 3;

/// What happens during the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    ChatApprove,
    ChatRejectWithReason,
    TwoApprovals,
    SignalRefusedThenConsoleApprove,
    ConsoleApprove,
    ConsoleRejectWithComment,
    StepTimeout,
    ConsoleStop,
    ChatCancel,
    FailureDuringWait,
}

pub const ALL: [Act; 10] = [
    Act::ChatApprove,
    Act::ChatRejectWithReason,
    Act::TwoApprovals,
    Act::SignalRefusedThenConsoleApprove,
    Act::ConsoleApprove,
    Act::ConsoleRejectWithComment,
    Act::StepTimeout,
    Act::ConsoleStop,
    Act::ChatCancel,
    Act::FailureDuringWait,
];

impl Act {
    /// The command that starts the release.
    pub fn deploy(self) -> &'static str {
        match self {
            Self::TwoApprovals => "deploy db r-99.1.0",
            Self::StepTimeout => "deploy quick r-99.1.0",
            _ => "deploy app r-99.1.0",
        }
    }

    pub fn service(self) -> &'static str {
        self.deploy().split(' ').nth(1).unwrap_or_default()
    }
}

/// (action, decision, actor, principal, a piece of the reason).
pub type AuditCheck = (
    AuditAction,
    Option<Signal>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

pub struct Expect {
    pub stage: Stage,
    pub thread: &'static [&'static str],
    pub never: &'static [&'static str],
    pub audit: Vec<AuditCheck>,
    pub ended_by: Option<Actor>,
    pub approved_by: &'static [&'static str],
    pub approved_outside: &'static [&'static str],
    /// Signals the bot sent that AWS took.
    pub bot_signals: usize,
}

pub fn expect(act: Act) -> Expect {
    use AuditAction as A;
    let approve = Some(Signal::Approve);
    let reject = Some(Signal::Reject);
    match act {
        Act::ChatApprove => Expect {
            stage: Stage::Succeeded,
            thread: &["approved by <@U0BOB>", "succeeded in"],
            never: &["outside chat", "AWS console"],
            audit: vec![
                (A::Approved, approve, Some(BOB), None, None),
                (A::Signalled, approve, None, None, Some("U0BOB")),
                (
                    A::ApprovalRecorded,
                    approve,
                    None,
                    Some(BOT_ROLE),
                    Some("U0BOB"),
                ),
                (A::Succeeded, None, None, None, None),
            ],
            ended_by: None,
            approved_by: &[BOB],
            approved_outside: &[],
            bot_signals: 1,
        },
        Act::ChatRejectWithReason => Expect {
            stage: Stage::Rejected,
            thread: &[
                "rejected by <@U0CAROL>",
                "Reason: smoke tests are red",
                "was rejected by <@U0CAROL>",
            ],
            never: &["approved by", "outside chat"],
            audit: vec![
                (
                    A::Rejected,
                    reject,
                    Some(CAROL),
                    None,
                    Some("smoke tests are red"),
                ),
                (
                    A::Signalled,
                    reject,
                    None,
                    None,
                    Some("smoke tests are red"),
                ),
                (
                    A::ApprovalRecorded,
                    reject,
                    Some(CAROL),
                    Some(BOT_ROLE),
                    Some("smoke tests are red"),
                ),
                (
                    A::Rejected,
                    None,
                    Some(CAROL),
                    None,
                    Some("smoke tests are red"),
                ),
            ],
            ended_by: Some(Actor::User(CAROL.into())),
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 1,
        },
        Act::TwoApprovals => Expect {
            stage: Stage::Succeeded,
            thread: &["approved by <@U0BOB>, <@U0CAROL>", "succeeded in"],
            never: &["outside chat"],
            audit: vec![
                (A::Approved, approve, Some(BOB), None, None),
                (A::Approved, approve, Some(CAROL), None, None),
                (
                    A::ApprovalRecorded,
                    approve,
                    None,
                    Some(BOT_ROLE),
                    Some("U0BOB, U0CAROL"),
                ),
            ],
            ended_by: None,
            approved_by: &[BOB, CAROL],
            approved_outside: &[],
            bot_signals: 1,
        },
        Act::SignalRefusedThenConsoleApprove => Expect {
            stage: Stage::Succeeded,
            thread: &[
                "AWS refused the approval",
                "is not an approver",
                "approved by arn:aws:iam::123456789012:user/ops-oncall in the AWS console",
                "Approved in chat, not delivered to AWS: <@U0BOB>",
            ],
            never: &["approved by <@U0BOB>", "Approved by: <@U0BOB>"],
            audit: vec![
                (A::Approved, approve, Some(BOB), None, None),
                (
                    A::SignalRefused,
                    approve,
                    None,
                    None,
                    Some("is not an approver"),
                ),
                (
                    A::DecidedOutsideChat,
                    approve,
                    None,
                    Some(CONSOLE_HUMAN),
                    None,
                ),
                (A::Succeeded, None, None, None, None),
            ],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[CONSOLE_HUMAN],
            bot_signals: 0,
        },
        Act::ConsoleApprove => Expect {
            stage: Stage::Succeeded,
            thread: &["approved by arn:aws:iam::123456789012:user/ops-oncall in the AWS console"],
            never: &["someone outside chat", "approved by <@"],
            audit: vec![(
                A::DecidedOutsideChat,
                approve,
                None,
                Some(CONSOLE_HUMAN),
                Some("looks good"),
            )],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[CONSOLE_HUMAN],
            bot_signals: 0,
        },
        Act::ConsoleRejectWithComment => Expect {
            stage: Stage::Rejected,
            thread: &[
                "rejected in the AWS console by arn:aws:iam::123456789012:user/ops-oncall",
                "Comment: not during the freeze",
                "was rejected by arn:aws:iam::123456789012:user/ops-oncall (outside chat)",
            ],
            never: &["someone outside chat", "approved by"],
            audit: vec![
                (
                    A::DecidedOutsideChat,
                    reject,
                    None,
                    Some(CONSOLE_HUMAN),
                    Some("not during the freeze"),
                ),
                (
                    A::Rejected,
                    None,
                    None,
                    Some(CONSOLE_HUMAN),
                    Some("not during the freeze"),
                ),
            ],
            ended_by: Some(Actor::Backend(CONSOLE_HUMAN.into())),
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 0,
        },
        Act::StepTimeout => Expect {
            stage: Stage::TimedOut,
            thread: &[
                "approval step ApproveRelease timed out in AWS",
                "timed out: its approval step timed out in AWS",
            ],
            never: &["approved by", "outside chat by"],
            audit: vec![(A::TimedOut, None, None, None, Some("timed out in AWS"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 0,
        },
        Act::ConsoleStop => Expect {
            stage: Stage::Cancelled,
            thread: &["stopped outside chat (AWS console or CLI"],
            never: &["approved by", "decided outside chat"],
            audit: vec![(A::Cancelled, None, None, None, Some("stopped outside chat"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 0,
        },
        Act::ChatCancel => Expect {
            stage: Stage::Cancelled,
            thread: &["cancelled by <@U0ALICE>", "was cancelled by <@U0ALICE>"],
            never: &["approved by", "outside chat"],
            audit: vec![
                (A::CancelRequested, None, Some(ALICE), None, None),
                (A::Cancelled, None, Some(ALICE), None, None),
            ],
            ended_by: Some(Actor::User(ALICE.into())),
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 0,
        },
        Act::FailureDuringWait => Expect {
            stage: Stage::Failed,
            thread: &[
                "the execution failed while waiting",
                "failed after",
                "instance terminated",
            ],
            never: &["approved by", "outside chat by"],
            audit: vec![(A::Failed, None, None, None, Some("instance terminated"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            bot_signals: 0,
        },
    }
}

/// What a test can do to a running bot and read from it.
pub trait Bot {
    /// `user` mentions the bot with `text` (a new top-level message).
    async fn mention(&self, event_id: &str, user: &str, text: &str, ts: &str);
    /// `user` clicks a button of the bot's message `ts`.
    async fn click(&self, user: &str, action_id: &str, deployment: &str, ts: &str);
    fn slack(&self) -> &FakeSlackApi;
    fn emulator_url(&self) -> String;
    fn audit(&self) -> Vec<AuditEvent>;
    async fn history(&self, service: &str) -> Vec<ReleaseRecord>;
}

/// Every message of the channel as a person reads it: the text, then each
/// block's text, with Slack's `*Label*\nvalue` fields as `Label: value`.
pub fn channel_text(slack: &FakeSlackApi) -> String {
    let mut out = String::new();
    for message in slack
        .messages()
        .into_iter()
        .filter(|m| m.ephemeral_to.is_none())
    {
        out.push_str(&message.text);
        out.push('\n');
        collect_texts(&message.blocks, &mut out);
        out.push_str("---\n");
    }
    out
}

fn collect_texts(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get("text") {
                let text = match text.strip_prefix('*').and_then(|t| t.split_once("*\n")) {
                    Some((label, rest)) => format!("{label}: {rest}"),
                    None => text.clone(),
                };
                out.push_str(&text);
                out.push('\n');
            }
            for (key, child) in map {
                if key != "text" || !child.is_string() {
                    collect_texts(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_texts(i, out)),
        _ => {}
    }
}

/// A real SDK client for a person in the AWS console (access key `key`).
pub fn console(url: &str, key: &str) -> aws_sdk_ssm::Client {
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(chatdeploy::aws::https_client())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, "test", None, None, "console"))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// POSTs a control request to the emulator (beside SSM's wire).
pub async fn control(url: &str, path: &str, body: Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 204"), "{path}: {response}");
}

/// Waits (in real time) for `ready`, or panics with `what` after `limit`.
pub async fn until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The approval request of the (one) release: (deployment, ts).
pub fn request(bot: &impl Bot) -> (String, String) {
    super::approval_request(bot.slack()).expect("an approval request was posted")
}

/// Alice asks for the case's release.
pub async fn start(bot: &impl Bot, act: Act) {
    bot.mention("EvWait1", ALICE, act.deploy(), "1700000001.000100")
        .await;
}

/// Does what `act` does, at a release waiting at its approval step.
pub async fn perform(bot: &impl Bot, act: Act, execution: &str) {
    let (deployment, ts) = request(bot);
    let url = bot.emulator_url();
    let console = console(&url, CONSOLE_KEY);
    match act {
        Act::ChatApprove => bot.click(BOB, "chatdeploy_approve", &deployment, &ts).await,
        Act::ChatRejectWithReason => {
            let text = format!("reject {deployment} smoke tests are red");
            bot.mention("EvWait2", CAROL, &text, "1700000002.000100")
                .await;
        }
        Act::TwoApprovals => {
            bot.click(BOB, "chatdeploy_approve", &deployment, &ts).await;
            // People click seconds apart; a click is acknowledged before it
            // is recorded, so wait for Bob's to show before Carol's, or the
            // expected order "Bob, Carol" would be a race.
            let start = Instant::now();
            while !channel_text(bot.slack()).contains("1 of 2") {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "Bob's approval never showed"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            bot.click(CAROL, "chatdeploy_approve", &deployment, &ts)
                .await;
        }
        Act::SignalRefusedThenConsoleApprove => {
            let map = serde_json::json!({"AccessKey": BOT_KEY, "Arn": OTHER_ROLE});
            control(&url, "/_emulator/identity", map).await;
            bot.click(BOB, "chatdeploy_approve", &deployment, &ts).await;
            until("the refusal", Duration::from_secs(30), || {
                bot.audit()
                    .iter()
                    .any(|e| e.action == AuditAction::SignalRefused)
            })
            .await;
            signal(
                &console,
                execution,
                SignalType::Approve,
                "approving by hand",
            )
            .await;
        }
        Act::ConsoleApprove => signal(&console, execution, SignalType::Approve, "looks good").await,
        Act::ConsoleRejectWithComment => {
            signal(
                &console,
                execution,
                SignalType::Reject,
                "not during the freeze",
            )
            .await;
        }
        Act::StepTimeout => {}
        Act::ConsoleStop => {
            console
                .stop_automation_execution()
                .automation_execution_id(execution)
                .send()
                .await
                .unwrap();
        }
        Act::ChatCancel => {
            let text = format!("cancel {deployment}");
            bot.mention("EvWait2", ALICE, &text, "1700000002.000100")
                .await;
        }
        Act::FailureDuringWait => {
            let body = serde_json::json!({
                "AutomationExecutionId": execution,
                "Message": "instance terminated"
            });
            control(&url, "/_emulator/fail-execution", body).await;
        }
    }
}

async fn signal(console: &aws_sdk_ssm::Client, execution: &str, kind: SignalType, comment: &str) {
    console
        .send_automation_signal()
        .automation_execution_id(execution)
        .signal_type(kind)
        .payload("Comment", vec![comment.to_owned()])
        .send()
        .await
        .unwrap();
}

/// The audit action that ends a release of `stage`.
pub fn outcome_action(stage: Stage) -> AuditAction {
    match stage {
        Stage::Succeeded => AuditAction::Succeeded,
        Stage::Rejected => AuditAction::Rejected,
        Stage::Cancelled => AuditAction::Cancelled,
        Stage::TimedOut => AuditAction::TimedOut,
        _ => AuditAction::Failed,
    }
}

/// Waits for the release's outcome record (of the stage the case expects).
pub async fn check_outcome_only(bot: &impl Bot, act: Act, label: &str) -> String {
    let outcome = outcome_action(expect(act).stage);
    let deployment = deployment(bot);
    until(
        &format!("{label}: the outcome {outcome:?}"),
        Duration::from_secs(60),
        || {
            bot.audit()
                .iter()
                .any(|e| e.id == format!("{deployment}:outcome"))
        },
    )
    .await;
    let found = bot
        .audit()
        .into_iter()
        .find(|e| e.id == format!("{deployment}:outcome"))
        .map(|e| e.action);
    assert_eq!(found, Some(outcome), "{label}: the outcome record");
    channel_text(bot.slack())
}

/// Waits for the release's outcome and its summary, then checks
/// everything the case expects. `signals_taken` counts the bot's signals
/// the execution's approval step recorded.
pub async fn check(bot: &impl Bot, act: Act, label: &str, signals_taken: usize) -> String {
    let expect = expect(act);
    let outcome = outcome_action(expect.stage);
    let deployment = deployment(bot);
    until(
        &format!("{label}: the outcome {outcome:?}"),
        Duration::from_secs(60),
        || {
            bot.audit()
                .iter()
                .any(|e| e.action == outcome && e.id == format!("{deployment}:outcome"))
        },
    )
    .await;
    // The summary and the last edits follow the outcome record; whatever
    // is still missing after a while is reported below.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let thread = channel_text(bot.slack());
        if expect.thread.iter().all(|piece| thread.contains(piece)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let thread = channel_text(bot.slack());
    for piece in expect.thread {
        assert!(
            thread.contains(piece),
            "{label}: the thread lacks {piece:?}:\n{thread}"
        );
    }
    for piece in expect.never {
        assert!(
            !thread.contains(piece),
            "{label}: the thread says {piece:?}:\n{thread}"
        );
    }
    let audit = bot.audit();
    for (action, decision, actor, principal, reason) in &expect.audit {
        let found = audit.iter().any(|e| {
            e.action == *action
                && (decision.is_none() || e.decision == *decision)
                && actor.is_none_or(|a| e.actor.as_ref().map(|u| u.as_str()) == Some(a))
                && principal.is_none_or(|p| e.principal.as_deref() == Some(p))
                && reason.is_none_or(|r| e.reason.as_deref().is_some_and(|x| x.contains(r)))
        });
        assert!(
            found,
            "{label}: no audit record {action:?} {decision:?} actor {actor:?} principal \
             {principal:?} reason {reason:?} in\n{audit:#?}"
        );
    }
    let mut ids: Vec<&str> = audit
        .iter()
        .filter(|e| e.action != AuditAction::Resumed)
        .map(|e| e.id.as_str())
        .collect();
    ids.sort_unstable();
    let all = ids.len();
    ids.dedup();
    assert_eq!(all, ids.len(), "{label}: an audit record was written twice");
    assert_eq!(
        signals_taken, expect.bot_signals,
        "{label}: the bot's signals AWS recorded"
    );
    // The history entry is written as the release is finalized, just after
    // its outcome is audited: give it the time a loaded machine needs.
    let start = Instant::now();
    let mut history = bot.history(act.service()).await;
    while history.is_empty() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(25)).await;
        history = bot.history(act.service()).await;
    }
    assert_eq!(history.len(), 1, "{label}: {history:?}");
    let entry = &history[0];
    assert_eq!(entry.outcome, expect.stage, "{label}");
    assert_eq!(entry.ended_by, expect.ended_by, "{label}");
    let approved: Vec<&str> = entry.approved_by.iter().map(|u| u.as_str()).collect();
    assert_eq!(approved, expect.approved_by, "{label}");
    assert_eq!(entry.approved_outside, expect.approved_outside, "{label}");
    assert_eq!(entry.bypassed, None, "{label}");
    if matches!(
        act,
        Act::ChatRejectWithReason | Act::ConsoleRejectWithComment
    ) {
        assert!(
            entry.reason.is_some(),
            "{label}: the history keeps the reason"
        );
    }
    thread
}

/// The (one) release's ID, from its request's audit record.
pub fn deployment(bot: &impl Bot) -> String {
    bot.audit()
        .into_iter()
        .find(|e| e.action == AuditAction::Requested)
        .and_then(|e| e.deployment)
        .map(|d| d.to_string())
        .expect("the release was requested")
}

/// The execution of the (one) release, once started.
pub async fn execution(bot: &impl Bot) -> String {
    until("the execution", Duration::from_secs(30), || {
        bot.audit().iter().any(|e| e.action == AuditAction::Started)
    })
    .await;
    bot.audit()
        .into_iter()
        .find(|e| e.action == AuditAction::Started)
        .and_then(|e| e.execution)
        .map(|e| e.to_string())
        .unwrap()
}

/// How many decisions of the bot's role the approval step recorded.
pub async fn bot_decisions(url: &str, execution: &str) -> usize {
    let got = console(url, CONSOLE_KEY)
        .get_automation_execution()
        .automation_execution_id(execution)
        .send()
        .await
        .unwrap();
    got.automation_execution()
        .map(|e| {
            e.step_executions()
                .iter()
                .filter(|s| s.action() == Some("aws:approve"))
                .flat_map(|s| {
                    s.outputs()
                        .and_then(|o| o.get("ApproverDecisions"))
                        .cloned()
                        .unwrap_or_default()
                })
                .filter(|d| d.contains(BOT_ROLE))
                .count()
        })
        .unwrap_or(0)
}
