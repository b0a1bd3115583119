//! Every way an approval wait at the document's approval step can end, with
//! and without a restart during the wait: what the thread, the audit log,
//! the history and the release's final stage say. The decision shown is
//! the one the backend reports, never inferred.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use chatdeploy_core::DeploymentId;
use chatdeploy_core::audit::{AuditAction, AuditEvent};
use chatdeploy_core::backend::Signal;
use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::state::{Actor, Stage, StateStore};
use chatdeploy_core::testing::SCRIPTED_BOT_ARN;
use support::{ALICE, BOB, CAROL, Harness, released};

const CONSOLE_HUMAN: &str = "arn:aws:iam::123456789012:user/ops-oncall";

/// What happens during the wait.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Bob clicks Approve.
    ChatApprove,
    /// Carol types `reject <id> smoke tests are red`.
    ChatReject,
    /// Bob and Carol approve a service that needs two approvals.
    TwoApprovals,
    /// AWS refuses the bot's signal; a human then approves in the console.
    RefusedThenConsoleApprove,
    /// AWS refuses the bot's signal; nobody approves before the deadline.
    RefusedUntilDeadline,
    /// A human approves in the AWS console.
    ConsoleApprove,
    /// A human rejects in the AWS console, with a comment.
    ConsoleReject,
    /// The approval step's own timeout passes in AWS.
    StepTimeout,
    /// Someone stops the execution in the AWS console.
    ConsoleStop,
    /// Alice types `cancel <id>`.
    ChatCancel,
    /// The execution fails while waiting.
    FailureDuringWait,
}

/// (action, decision, actor, principal, a piece of the reason).
type AuditCheck = (
    AuditAction,
    Option<Signal>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

struct Expect {
    stage: Stage,
    /// Each must appear somewhere in the thread.
    thread: &'static [&'static str],
    /// None may appear anywhere in the thread.
    never: &'static [&'static str],
    /// Audit records that must exist, with their decision, actor and
    /// principal where given, and a piece of their reason.
    audit: Vec<AuditCheck>,
    /// A piece of the history line's data: who ended it.
    ended_by: Option<Actor>,
    /// Confirmed approvers in the history.
    approved_by: &'static [&'static str],
    approved_outside: &'static [&'static str],
    signals: usize,
}

fn expectation(act: Act) -> Expect {
    use AuditAction as A;
    let approve = Some(Signal::Approve);
    let reject = Some(Signal::Reject);
    match act {
        Act::ChatApprove => Expect {
            stage: Stage::Succeeded,
            thread: &["approved by @U0BOB", "succeeded in"],
            never: &["outside chat", "AWS console"],
            audit: vec![
                (A::Approved, approve, Some(BOB), None, None),
                (
                    A::Signalled,
                    approve,
                    None,
                    None,
                    Some("Approved in chat by U0BOB"),
                ),
                (
                    A::ApprovalRecorded,
                    approve,
                    None,
                    Some(SCRIPTED_BOT_ARN),
                    Some("U0BOB"),
                ),
                (A::Succeeded, None, None, None, None),
            ],
            ended_by: None,
            approved_by: &[BOB],
            approved_outside: &[],
            signals: 1,
        },
        Act::ChatReject => Expect {
            stage: Stage::Rejected,
            thread: &[
                "rejected by @U0CAROL",
                "was rejected by @U0CAROL",
                "Reason: smoke tests are red",
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
                    Some(SCRIPTED_BOT_ARN),
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
            signals: 1,
        },
        Act::TwoApprovals => Expect {
            stage: Stage::Succeeded,
            thread: &["approved by @U0BOB, @U0CAROL", "succeeded in"],
            never: &["outside chat"],
            audit: vec![
                (A::Approved, approve, Some(BOB), None, None),
                (A::Approved, approve, Some(CAROL), None, None),
                (
                    A::ApprovalRecorded,
                    approve,
                    None,
                    Some(SCRIPTED_BOT_ARN),
                    Some("U0BOB, U0CAROL"),
                ),
            ],
            ended_by: None,
            approved_by: &[BOB, CAROL],
            approved_outside: &[],
            signals: 1,
        },
        Act::RefusedThenConsoleApprove => Expect {
            stage: Stage::Succeeded,
            thread: &[
                "AWS refused the approval",
                "is not an approver of step Approve",
                "approved by arn:aws:iam::123456789012:user/ops-oncall in the AWS console",
                "Approved in AWS by: arn:aws:iam::123456789012:user/ops-oncall",
            ],
            never: &["approved by @U0BOB", "Approved by: @U0BOB"],
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
            signals: 1,
        },
        Act::RefusedUntilDeadline => Expect {
            stage: Stage::TimedOut,
            thread: &[
                "AWS refused the approval",
                "nobody decided in time",
                "timed out: nobody approved it in time",
                "AWS refused the bot's signal",
            ],
            never: &["approved by", "Approved by"],
            audit: vec![
                (
                    A::SignalRefused,
                    approve,
                    None,
                    None,
                    Some("is not an approver"),
                ),
                (
                    A::TimedOut,
                    None,
                    None,
                    None,
                    Some("AWS refused the bot's signal"),
                ),
            ],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            signals: 1,
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
                None,
            )],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[CONSOLE_HUMAN],
            signals: 0,
        },
        Act::ConsoleReject => Expect {
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
            signals: 0,
        },
        Act::StepTimeout => Expect {
            stage: Stage::TimedOut,
            thread: &["approval step Approve timed out in AWS"],
            never: &["approved by", "outside chat by"],
            audit: vec![(A::TimedOut, None, None, None, Some("timed out in AWS"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            signals: 0,
        },
        Act::ConsoleStop => Expect {
            stage: Stage::Cancelled,
            thread: &["stopped outside chat (AWS console or CLI"],
            never: &["approved by", "Approve]"],
            audit: vec![(A::Cancelled, None, None, None, Some("stopped outside chat"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            signals: 0,
        },
        Act::ChatCancel => Expect {
            stage: Stage::Cancelled,
            thread: &["cancelled by @U0ALICE", "was cancelled by @U0ALICE"],
            never: &["approved by", "outside chat"],
            audit: vec![
                (A::CancelRequested, None, Some(ALICE), None, None),
                (A::Cancelled, None, Some(ALICE), None, None),
            ],
            ended_by: Some(Actor::User(ALICE.into())),
            approved_by: &[],
            approved_outside: &[],
            signals: 0,
        },
        Act::FailureDuringWait => Expect {
            stage: Stage::Failed,
            thread: &["the execution failed while waiting", "failed after"],
            never: &["approved by", "outside chat by"],
            audit: vec![(A::Failed, None, None, None, Some("instance terminated"))],
            ended_by: None,
            approved_by: &[],
            approved_outside: &[],
            signals: 0,
        },
    }
}

/// Starts the release and waits until its approval request is posted.
async fn waiting(h: &Harness, act: Act) -> DeploymentId {
    let text = match act {
        Act::TwoApprovals => "deploy db v42",
        _ => "deploy app r-99.1.0",
    };
    if let Act::StepTimeout = act {
        h.backend.set_approval_timeout(Duration::from_secs(3600));
    }
    let id = released(h.say(ALICE, text).await);
    h.settle().await;
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::AwaitingApproval, "{act:?}");
    assert!(record.approval.unwrap().message.is_some());
    id
}

async fn perform(h: &Harness, id: &DeploymentId, act: Act) {
    let execution = h.record(id).await.execution.unwrap();
    match act {
        Act::ChatApprove => {
            h.click(BOB, ButtonAction::Approve, id).await;
        }
        Act::ChatReject => {
            h.say(CAROL, &format!("reject {id} smoke tests are red"))
                .await;
        }
        Act::TwoApprovals => {
            h.click(BOB, ButtonAction::Approve, id).await;
            h.settle().await;
            assert!(
                h.backend.signals().is_empty(),
                "one approval of two sends nothing"
            );
            h.click(CAROL, ButtonAction::Approve, id).await;
        }
        Act::RefusedThenConsoleApprove | Act::RefusedUntilDeadline => {
            h.backend.set_bot_is_approver(false);
            h.click(BOB, ButtonAction::Approve, id).await;
            h.settle().await;
            let record = h.record(id).await;
            assert!(record.approval.unwrap().refused.is_some(), "{act:?}");
            assert_eq!(record.stage, Stage::AwaitingApproval);
            if let Act::RefusedThenConsoleApprove = act {
                assert!(
                    h.backend
                        .decide_outside(&execution, CONSOLE_HUMAN, Signal::Approve)
                );
            }
        }
        Act::ConsoleApprove => {
            assert!(
                h.backend
                    .decide_outside(&execution, CONSOLE_HUMAN, Signal::Approve)
            );
        }
        Act::ConsoleReject => {
            assert!(h.backend.decide_outside_with(
                &execution,
                CONSOLE_HUMAN,
                Signal::Reject,
                Some("not during the freeze")
            ));
        }
        Act::StepTimeout => {}
        Act::ConsoleStop => assert!(h.backend.stop_outside(&execution)),
        Act::ChatCancel => {
            h.say(ALICE, &format!("cancel {id}")).await;
        }
        Act::FailureDuringWait => {
            assert!(h.backend.fail_outside(&execution, "instance terminated"));
        }
    }
    h.settle().await;
    // Long enough for every deadline: the step's 1 h, chatdeploy's 2 h.
    h.wait(Duration::from_secs(3 * 3600)).await;
}

fn check(
    h: &Harness,
    act: Act,
    restarted: bool,
    id: &DeploymentId,
    thread: &str,
    audit: &[AuditEvent],
) {
    let expect = expectation(act);
    let case = format!("{act:?} (restarted: {restarted})");
    for piece in expect.thread {
        assert!(
            thread.contains(piece),
            "{case}: the thread lacks {piece:?}:\n{thread}"
        );
    }
    for piece in expect.never {
        assert!(
            !thread.contains(piece),
            "{case}: the thread says {piece:?}:\n{thread}"
        );
    }
    for (action, decision, actor, principal, reason) in &expect.audit {
        let found = audit.iter().any(|e| {
            e.action == *action
                && e.deployment.as_ref() == Some(id)
                && (decision.is_none() || e.decision == *decision)
                && actor.is_none_or(|a| e.actor.as_ref().map(|u| u.as_str()) == Some(a))
                && principal.is_none_or(|p| e.principal.as_deref() == Some(p))
                && reason.is_none_or(|r| e.reason.as_deref().is_some_and(|x| x.contains(r)))
        });
        assert!(
            found,
            "{case}: no audit record {action:?} {decision:?} actor {actor:?} principal \
             {principal:?} reason {reason:?} in\n{audit:#?}"
        );
    }
    // Each record once, whatever restarts happened.
    let mut ids: Vec<&str> = audit.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "{case}: duplicate audit records");
    if expect.stage != Stage::Succeeded {
        assert!(
            !audit.iter().any(|e| e.action == AuditAction::Succeeded),
            "{case}: audited as succeeded"
        );
    }
    assert_eq!(
        h.backend.signals().len(),
        expect.signals,
        "{case}: signals sent"
    );
    assert_eq!(h.backend.executions(), 1, "{case}: one execution");
}

async fn run(act: Act, restart: bool) {
    let first = Harness::new();
    let id = waiting(&first, act).await;
    let h = if restart { first.restart() } else { first };
    if restart {
        assert_eq!(h.engine.resume().await.unwrap(), 1);
        h.settle().await;
    }
    perform(&h, &id, act).await;

    let record = h.record(&id).await;
    let expect = expectation(act);
    let case = format!("{act:?} (restarted: {restart})");
    assert_eq!(record.stage, expect.stage, "{case}: {record:#?}");
    assert!(record.finalized, "{case}");
    assert!(
        h.state.lock(&record.service).await.unwrap().is_none(),
        "{case}: lock released"
    );
    let thread = h.thread_text(&h.thread(&id).await);
    if std::env::var_os("SHOW_THREADS").is_some() {
        let actions: Vec<&str> = h.audit.actions().iter().map(|a| a.as_str()).collect();
        println!("=== {case}\n{thread}\naudit: {}\n", actions.join(", "));
    }
    check(&h, act, restart, &id, &thread, &h.audit.events());

    let history = h.state.history(&record.service, 5).await.unwrap();
    assert_eq!(history.len(), 1, "{case}");
    let entry = &history[0];
    assert_eq!(entry.outcome, expect.stage, "{case}");
    assert_eq!(entry.ended_by, expect.ended_by, "{case}");
    let approved: Vec<&str> = entry.approved_by.iter().map(|u| u.as_str()).collect();
    assert_eq!(approved, expect.approved_by, "{case}");
    assert_eq!(entry.approved_outside, expect.approved_outside, "{case}");
    assert_eq!(entry.bypassed, None, "{case}");
    if matches!(act, Act::ChatReject | Act::ConsoleReject) {
        assert!(
            entry.reason.is_some(),
            "{case}: the history keeps the reason"
        );
    }
    // Nothing in the thread says "approved" unless AWS recorded an approval.
    if !matches!(expect.stage, Stage::Succeeded) {
        assert!(!thread.contains(": approved by"), "{case}:\n{thread}");
    }
}

const ALL: [Act; 11] = [
    Act::ChatApprove,
    Act::ChatReject,
    Act::TwoApprovals,
    Act::RefusedThenConsoleApprove,
    Act::RefusedUntilDeadline,
    Act::ConsoleApprove,
    Act::ConsoleReject,
    Act::StepTimeout,
    Act::ConsoleStop,
    Act::ChatCancel,
    Act::FailureDuringWait,
];

#[tokio::test(start_paused = true)]
async fn every_wait_ending_is_shown_and_audited_as_it_happened() {
    for act in ALL {
        run(act, false).await;
    }
}

#[tokio::test(start_paused = true)]
async fn every_wait_ending_after_a_restart_during_the_wait() {
    for act in ALL {
        run(act, true).await;
    }
}
