//! Every way an approval wait can end, end to end: signed Events API
//! requests into the listener, the engine, `SsmBackend` (the real
//! aws-sdk-ssm and aws-sdk-sts clients) against the SSM emulator, the real
//! `SlackSurface` against the fake Slack, SQLite state and a JSONL audit
//! file. The same table runs against the real binary killed during the
//! wait in `restart_kill.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use chatdeploy::aws::SsmEmulator;
use chatdeploy::core::audit::AuditEvent;
use chatdeploy::core::state::{ReleaseRecord, StateStore};
use chatdeploy::slack::fake::FakeSlackApi;
use chatdeploy::sqlite::SqliteStateStore;
use support::World;
use support::waits::{self, Act, Bot};

impl Bot for World {
    async fn mention(&self, event_id: &str, user: &str, text: &str, ts: &str) {
        assert_eq!(
            World::mention(self, event_id, user, text, ts, None).await,
            200
        );
    }
    async fn click(&self, user: &str, action_id: &str, deployment: &str, ts: &str) {
        assert_eq!(
            World::click(self, user, action_id, deployment, ts).await,
            200
        );
    }
    fn slack(&self) -> &FakeSlackApi {
        &self.slack
    }
    fn emulator_url(&self) -> String {
        self.emulator.url()
    }
    fn audit(&self) -> Vec<AuditEvent> {
        World::audit(self)
    }
    async fn history(&self, service: &str) -> Vec<ReleaseRecord> {
        let state = SqliteStateStore::open_read_only(&self.state_path).unwrap();
        state.history(service, 10).await.unwrap()
    }
}

async fn world() -> World {
    let emulator = SsmEmulator::builder()
        .step_delay(std::time::Duration::from_millis(50))
        .caller_arn(waits::BOT_ROLE)
        .identity(waits::CONSOLE_KEY, waits::CONSOLE_HUMAN)
        .document("Deploy-App", waits::document(3600))
        .document("Deploy-Quick", waits::document(waits::QUICK_TIMEOUT));
    World::start_with(waits::CONFIG, emulator).await
}

async fn case(act: Act) {
    let w = world().await;
    waits::start(&w, act).await;
    let execution = waits::execution(&w).await;
    waits::until(
        "the approval request",
        std::time::Duration::from_secs(30),
        || w.approval_request().is_some(),
    )
    .await;
    waits::perform(&w, act, &execution).await;
    let label = format!("{act:?}");
    let taken = {
        // The outcome first, then what AWS recorded.
        let thread = waits::check_outcome_only(&w, act, &label).await;
        drop(thread);
        waits::bot_decisions(&w.emulator_url(), &execution).await
    };
    let thread = waits::check(&w, act, &label, taken).await;
    if std::env::var_os("SHOW_THREADS").is_some() {
        let actions: Vec<&str> = w.audit().iter().map(|e| e.action.as_str()).collect();
        println!("=== {label}\n{thread}\naudit: {}\n", actions.join(", "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_in_chat() {
    case(Act::ChatApprove).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_in_chat_with_a_reason() {
    case(Act::ChatRejectWithReason).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_one_signal() {
    case(Act::TwoApprovals).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signal_then_an_approval_in_the_console() {
    case(Act::SignalRefusedThenConsoleApprove).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_in_the_console_by_a_person() {
    case(Act::ConsoleApprove).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_in_the_console_with_a_comment() {
    case(Act::ConsoleRejectWithComment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_times_out_in_aws() {
    case(Act::StepTimeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_in_the_console() {
    case(Act::ConsoleStop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_in_chat() {
    case(Act::ChatCancel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_fails_during_the_wait() {
    case(Act::FailureDuringWait).await;
}
