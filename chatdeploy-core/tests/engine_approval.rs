//! Engine scenarios: who may approve, how many, and exactly one signal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use chatdeploy_core::audit::AuditAction;
use chatdeploy_core::backend::Signal;
use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::chat::Handled;
use chatdeploy_core::state::Stage;
use support::{ALICE, BOB, CAROL, ERIN, EVE, Harness, released};

#[tokio::test(start_paused = true)]
async fn concurrent_approve_clicks_send_exactly_one_signal() {
    let h = Arc::new(Harness::new());
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;

    // Both approvers double- and triple-click at the same instant.
    let clicks: Vec<_> = (0..12)
        .map(|i| {
            let h = Arc::clone(&h);
            let id = id.clone();
            let who = if i % 2 == 0 { BOB } else { CAROL };
            tokio::spawn(async move { h.click(who, ButtonAction::Approve, &id).await })
        })
        .collect();
    let mut accepted = 0;
    for click in clicks {
        if click.await.unwrap() == Handled::Accepted {
            accepted += 1;
        }
    }
    h.settle().await;

    assert_eq!(
        accepted, 1,
        "one click decides, the others are told it is decided"
    );
    assert_eq!(h.backend.signals().len(), 1);
    assert_eq!(h.backend.signals()[0].1, Signal::Approve);
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h.count(AuditAction::Signalled), 1);
    assert_eq!(h.count(AuditAction::Approved), 1);
}

#[tokio::test(start_paused = true)]
async fn self_approval_is_denied() {
    let h = Harness::new();
    let id = released(h.say(CAROL, "deploy app r-99.1.0").await);
    h.settle().await;
    assert_eq!(
        h.click(CAROL, ButtonAction::Approve, &id).await,
        Handled::Refused
    );
    assert!(
        h.last_ephemeral(CAROL)
            .contains("You requested this release"),
        "{}",
        h.last_ephemeral(CAROL)
    );
    h.settle().await;
    assert!(h.backend.signals().is_empty());
    assert_eq!(h.record(&id).await.stage, Stage::AwaitingApproval);
    assert_eq!(h.count(AuditAction::ApprovalDenied), 1);
    // Another approver can still approve.
    assert_eq!(
        h.click(BOB, ButtonAction::Approve, &id).await,
        Handled::Accepted
    );
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_non_approver_is_denied() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    for who in [ALICE, EVE, ERIN] {
        assert_eq!(
            h.click(who, ButtonAction::Approve, &id).await,
            Handled::Refused,
            "{who}"
        );
        assert!(
            h.last_ephemeral(who).contains("not an approver of app"),
            "{}",
            h.last_ephemeral(who)
        );
    }
    assert_eq!(h.say(EVE, "reject app").await, Handled::Refused);
    h.settle().await;
    assert!(h.backend.signals().is_empty());
    assert_eq!(h.record(&id).await.stage, Stage::AwaitingApproval);
    assert_eq!(h.count(AuditAction::ApprovalDenied), 4);
}

#[tokio::test(start_paused = true)]
async fn two_approvals_needed_and_the_same_person_counts_once() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy db v42").await);
    h.settle().await;

    assert_eq!(
        h.click(BOB, ButtonAction::Approve, &id).await,
        Handled::Accepted
    );
    assert_eq!(h.last_ephemeral(BOB), "Your approval is counted: 1 of 2.");
    assert_eq!(
        h.click(BOB, ButtonAction::Approve, &id).await,
        Handled::Refused
    );
    assert!(
        h.last_ephemeral(BOB).contains("already approved"),
        "{}",
        h.last_ephemeral(BOB)
    );
    h.settle().await;
    assert!(
        h.backend.signals().is_empty(),
        "one approval of two sends nothing"
    );
    let ask = h.thread(&id).await[1].to_plain_text();
    assert!(ask.contains("Approvals: 1 of 2"), "{ask}");
    assert!(
        ask.contains("Approved by: @U0BOB") || ask.contains("1 of 2"),
        "{ask}"
    );

    assert_eq!(h.say(ERIN, "approve db").await, Handled::Accepted);
    h.settle().await;
    assert_eq!(h.backend.signals().len(), 1);
    let record = h.record(&id).await;
    assert_eq!(record.stage, Stage::Succeeded);
    assert_eq!(record.approved_by, vec![BOB.into(), ERIN.into()]);
}

#[tokio::test(start_paused = true)]
async fn text_approve_by_service_name_or_id() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    assert_eq!(
        h.say(BOB, "approve api").await,
        Handled::Accepted,
        "alias works"
    );
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Succeeded);

    assert_eq!(h.say(BOB, "approve app").await, Handled::Refused);
    assert!(
        h.last_ephemeral(BOB)
            .contains("No release of app is waiting"),
        "{}",
        h.last_ephemeral(BOB)
    );
    assert_eq!(h.say(BOB, &format!("approve {id}")).await, Handled::Refused);
    assert!(
        h.last_ephemeral(BOB).contains("is succeeded"),
        "{}",
        h.last_ephemeral(BOB)
    );
}

#[tokio::test(start_paused = true)]
async fn a_decided_request_refuses_late_clicks() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy ui r-1.0.0").await);
    h.settle().await;
    assert_eq!(
        h.click(BOB, ButtonAction::Reject, &id).await,
        Handled::Accepted
    );
    assert_eq!(
        h.click(CAROL, ButtonAction::Approve, &id).await,
        Handled::Refused
    );
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Rejected);
    assert_eq!(h.backend.executions(), 0);
}
