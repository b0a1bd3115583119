//! Engine scenarios: deduplication, locks, fail-closed audit, chat outages,
//! authorisation, validation, rollback and the read-only commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use chatdeploy_core::audit::AuditAction;
use chatdeploy_core::chat::{ChatEvent, Handled};
use chatdeploy_core::state::{InMemoryStateStore, ReleaseKind, Stage};
use support::{ALICE, BOB, CAROL, DAVE, DEPLOY_CHANNEL, EVE, ForgetfulDedupe, Harness, released};

#[tokio::test(start_paused = true)]
async fn a_redelivered_event_is_dropped() {
    let h = Harness::new();
    let event = ChatEvent::command("EvSame", ALICE, DEPLOY_CHANNEL, "deploy docs r-1.0.0")
        .with_message("1800000000.000100");
    let first = h.engine.handle(event.clone()).await;
    assert!(matches!(first, Handled::Released(_)));
    assert_eq!(h.engine.handle(event.clone()).await, Handled::Duplicate);
    h.settle().await;
    assert_eq!(h.engine.handle(event).await, Handled::Duplicate);
    h.settle().await;
    assert_eq!(h.backend.executions(), 1);
    assert_eq!(h.backend.call_counts().0, 1, "one start call");
    assert_eq!(h.count(AuditAction::Requested), 1);
    // Offered once too: a log that mirrors the audit shows the request once.
    assert_eq!(h.audit.offered(AuditAction::Requested), 1);
    assert_eq!(h.audit.offered(AuditAction::Started), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_dedupe_record_still_cannot_start_twice() {
    let h = Harness::with_state(Arc::new(ForgetfulDedupe(Arc::new(
        InMemoryStateStore::new(),
    ))));
    let event = ChatEvent::command("EvAgain", ALICE, DEPLOY_CHANNEL, "deploy docs r-1.0.0")
        .with_message("1800000000.000100");
    let id = released(h.engine.handle(event.clone()).await);
    assert_eq!(h.engine.handle(event.clone()).await, Handled::Duplicate);
    h.settle().await;
    assert_eq!(
        h.engine.handle(event).await,
        Handled::Duplicate,
        "also after it finished"
    );
    h.settle().await;
    assert_eq!(h.backend.executions(), 1);
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h.count(AuditAction::Succeeded), 1);
}

#[tokio::test(start_paused = true)]
async fn one_release_per_service_at_a_time() {
    let h = Harness::new();
    let first = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    assert_eq!(h.say(DAVE, "deploy api r-99.2.0").await, Handled::Refused);
    let busy = h.last_ephemeral(DAVE);
    assert!(
        busy.starts_with("app is busy: @U0ALICE is releasing r-99.1.0 since"),
        "{busy}"
    );
    assert!(busy.contains(&format!("`cancel {first}`")), "{busy}");
    // Another service is free.
    assert!(matches!(
        h.say(DAVE, "deploy docs r-1.0.0").await,
        Handled::Released(_)
    ));
    // Once the first ends, the lock is free again.
    h.say(BOB, "approve app").await;
    h.settle().await;
    assert!(matches!(
        h.say(DAVE, "deploy app r-99.2.0").await,
        Handled::Released(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_manual_lock_freezes_a_service_until_unlocked() {
    let h = Harness::new();
    assert_eq!(
        h.say(BOB, "lock docs release freeze for the launch").await,
        Handled::Accepted
    );
    assert_eq!(h.say(ALICE, "deploy docs r-1.0.0").await, Handled::Refused);
    let frozen = h.last_ephemeral(ALICE);
    assert!(
        frozen.starts_with("docs is locked by @U0BOB since"),
        "{frozen}"
    );
    assert!(frozen.contains("release freeze for the launch"), "{frozen}");
    assert!(frozen.contains("`unlock docs`"), "{frozen}");

    assert_eq!(
        h.say(EVE, "unlock docs").await,
        Handled::Refused,
        "not a deployer or approver"
    );
    assert_eq!(h.say(ALICE, "unlock docs").await, Handled::Accepted);
    assert!(matches!(
        h.say(ALICE, "deploy docs r-1.0.0").await,
        Handled::Released(_)
    ));
    assert_eq!(
        h.say(ALICE, "unlock docs").await,
        Handled::Refused,
        "a release lock is not a freeze"
    );
    assert!(
        h.last_ephemeral(ALICE).contains("busy with release"),
        "{}",
        h.last_ephemeral(ALICE)
    );
    assert_eq!(h.count(AuditAction::Locked), 1);
    assert_eq!(h.count(AuditAction::Unlocked), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unwritable_audit_log_blocks_the_release() {
    let h = Harness::new();
    h.audit.fail_actions(&[AuditAction::Requested]);
    assert_eq!(h.say(ALICE, "deploy docs r-1.0.0").await, Handled::Refused);
    assert!(
        h.last_ephemeral(ALICE)
            .contains("audit log cannot be written"),
        "{}",
        h.last_ephemeral(ALICE)
    );
    h.settle().await;
    assert_eq!(h.backend.executions(), 0);
    assert!(h.state.lock("docs").await.unwrap().is_none());
    assert!(h.state.in_flight().await.unwrap().is_empty());

    // Approvals, cancels and locks fail closed too.
    h.audit.fail_actions(&[]);
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    h.audit.fail_actions(&[
        AuditAction::Approved,
        AuditAction::CancelRequested,
        AuditAction::Locked,
    ]);
    assert_eq!(h.say(BOB, "approve app").await, Handled::Refused);
    assert_eq!(h.say(ALICE, "cancel app").await, Handled::Refused);
    assert_eq!(h.say(BOB, "lock ui").await, Handled::Refused);
    h.settle().await;
    assert!(h.backend.signals().is_empty());
    assert_eq!(h.record(&id).await.stage, Stage::AwaitingApproval);
    assert!(h.state.lock("ui").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_chat_outage_does_not_stop_the_release() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.chat.set_unavailable(true);
    tokio::time::sleep(Duration::from_secs(30)).await;
    // The release ran on without chat.
    assert_eq!(h.backend.executions(), 1);
    h.chat.set_unavailable(false);
    h.settle().await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Succeeded);
    assert!(record.finalized);
    assert_eq!(h.count(AuditAction::Succeeded), 1);
    assert!(h.chat.failed_calls() > 0);
    // Posts that failed were retried: the thread ends with the summary.
    let thread = h.thread(&id).await;
    assert!(
        thread.last().unwrap().text.contains("succeeded in"),
        "{}",
        h.thread_text(&thread)
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_chat_is_retried() {
    let h = Harness::new();
    h.chat.fail_next(3);
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
    let thread = h.thread(&id).await;
    assert_eq!(
        thread.len(),
        2,
        "status and summary: {}",
        h.thread_text(&thread)
    );
    assert!(thread[0].text.contains("succeeded"));
}

#[tokio::test(start_paused = true)]
async fn mutating_commands_need_the_deploy_channel_and_a_role() {
    let h = Harness::new();
    assert_eq!(
        h.say_in("C0RANDOM", ALICE, "deploy docs r-1.0.0").await,
        Handled::Refused
    );
    assert_eq!(
        h.last_ephemeral(ALICE),
        "`deploy` changes releases, so it only works in #C0DEPLOY; type it there."
    );
    assert_eq!(h.say(EVE, "deploy docs r-1.0.0").await, Handled::Refused);
    assert_eq!(
        h.last_ephemeral(EVE),
        "You are not a deployer of docs; ask the platform team to add you to `deployers`."
    );
    assert_eq!(h.say(EVE, "lock docs").await, Handled::Refused);
    assert_eq!(h.count(AuditAction::Denied), 3);
    assert_eq!(h.backend.executions(), 0);
    // Read-only commands work anywhere, for anyone.
    assert_eq!(h.say_in("C0RANDOM", EVE, "status").await, Handled::Answered);
    assert_eq!(
        h.say_in("D0DM", EVE, "help deploy").await,
        Handled::Answered
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_is_for_the_requester_deployers_and_approvers() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    assert_eq!(h.say(EVE, &format!("cancel {id}")).await, Handled::Refused);
    assert_eq!(h.say(DAVE, "cancel app").await, Handled::Accepted);
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_a_specific_answer() {
    let h = Harness::new();
    let cases = [
        (
            "depoly app r-99.1.0",
            "`depoly` is not a command. Did you mean `deploy`?",
        ),
        ("deploy ap r-99.1.0", "Did you mean `app`?"),
        ("deploy app 99.1", "`99.1` is not a version of app"),
        ("deploy app 99.1", "r-99.1.0"),
        ("deploy app r-99.1.0 to moon", "moon"),
        ("deploy app", "`deploy` needs a version"),
        ("approve d-0123456789", "There is no release d-0123456789"),
        ("rollback docs", "no earlier successful release of docs"),
    ];
    for (text, expected) in cases {
        assert_eq!(h.say(ALICE, text).await, Handled::Refused, "{text}");
        let answer = h.last_ephemeral(ALICE);
        assert!(answer.contains(expected), "{text}: {answer}");
    }
    assert_eq!(h.backend.executions(), 0);
}

#[tokio::test(start_paused = true)]
async fn rollback_redeploys_the_previous_successful_version() {
    let h = Harness::new();
    for version in ["r-1.0.0", "r-2.0.0"] {
        released(h.say(ALICE, &format!("deploy docs {version}")).await);
        h.settle().await;
    }
    // A failed release is not "previous successful".
    let id = released(h.say(ALICE, "rollback docs").await);
    h.settle().await;
    let record = h.record(&id).await;
    assert_eq!(record.kind, ReleaseKind::Rollback);
    assert_eq!(record.version, "r-1.0.0");
    assert_eq!(record.stage, Stage::Succeeded);
    let execution = record.execution.unwrap();
    assert_eq!(
        h.backend.request(&execution).unwrap().parameters["ReleaseVersion"],
        "r-1.0.0"
    );
    // Now r-1.0.0 is current; the previous successful is r-2.0.0.
    let again = released(h.say(ALICE, "rollback docs").await);
    h.settle().await;
    assert_eq!(h.record(&again).await.version, "r-2.0.0");
    let named = released(h.say(ALICE, "rollback docs to r-1.0.0").await);
    h.settle().await;
    assert_eq!(h.record(&named).await.version, "r-1.0.0");
}

#[tokio::test(start_paused = true)]
async fn read_only_commands_answer_in_the_thread() {
    let h = Harness::new();
    released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.settle().await;
    released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    h.say(BOB, "lock ui freeze").await;

    let reply = |h: &Harness| {
        let posts: Vec<_> = h
            .chat
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                chatdeploy_core::chat::RecordedCall::Post { message, .. } => {
                    Some(message.to_plain_text())
                }
                _ => None,
            })
            .collect();
        posts.last().unwrap().clone()
    };
    assert_eq!(h.say_in("C0RANDOM", EVE, "status").await, Handled::Answered);
    let status = reply(&h);
    assert!(status.contains("docs: r-1.0.0 in production"), "{status}");
    assert!(
        status.contains("In flight: r-99.1.0 to production, awaiting approval"),
        "{status}"
    );
    assert!(
        status.contains("ui: no release through chatdeploy yet. Locked by @U0BOB"),
        "{status}"
    );
    assert!(status.contains(": freeze."), "the lock's reason: {status}");

    h.say_in("C0RANDOM", EVE, "history docs").await;
    let history = reply(&h);
    assert!(
        history.contains(
            "r-1.0.0 to production: succeeded (requested by @U0ALICE, no approval, deploy"
        ),
        "{history}"
    );

    h.say_in("C0RANDOM", EVE, "services").await;
    let services = reply(&h);
    assert!(
        services.contains("app (also api): Main API. Versions like `r-99.1.0`"),
        "{services}"
    );
    assert!(
        services
            .contains("2 approval(s) at the document's approval step from @U0BOB @U0CAROL @U0ERIN"),
        "{services}"
    );

    h.say_in("C0RANDOM", EVE, "runbook api").await;
    assert!(reply(&h).contains("https://wiki.acme.dev/runbooks/app"));
    h.say_in("C0RANDOM", EVE, "runbook docs").await;
    assert!(reply(&h).contains("docs has no runbook configured"));

    h.say_in("C0RANDOM", EVE, "help").await;
    let help = reply(&h);
    assert!(
        help.contains("`deploy <service> <version> [to <env>] [for <ticket>]`"),
        "{help}"
    );
    assert!(
        help.contains("Services: app (versions like `r-99.1.0`)"),
        "{help}"
    );
    assert!(h.count(AuditAction::Queried) >= 6);
    let _ = CAROL;
}
