//! Engine scenarios: a restart at each stage of a release resumes it, and
//! nothing is started, signalled or audited twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use chatdeploy_core::audit::AuditAction;
use chatdeploy_core::backend::{DeployBackend, Signal, StartRequest};
use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::chat::Handled;
use chatdeploy_core::state::{DeploymentRecord, Stage};
use support::{ALICE, BOB, Harness, released};

/// Every lifecycle record exactly once.
fn assert_audited_once(h: &Harness, actions: &[AuditAction]) {
    for action in actions {
        assert_eq!(h.count(*action), 1, "{action:?} in {:?}", h.audit.actions());
    }
}

async fn store(h: &Harness, record: &DeploymentRecord) -> DeploymentRecord {
    h.state.update_deployment(record).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn restart_just_after_the_request() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.engine.shutdown(); // the process dies before its supervisor ran
    h.settle().await;
    assert_eq!(h.record(&id).await.stage, Stage::Requested);

    let h2 = h.restart();
    assert_eq!(h2.engine.resume().await.unwrap(), 1);
    h2.settle().await;
    assert_eq!(h2.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h2.backend.executions(), 1);
    assert_audited_once(
        &h2,
        &[
            AuditAction::Requested,
            AuditAction::Started,
            AuditAction::Succeeded,
        ],
    );
    assert!(h2.state.lock("docs").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn restart_just_after_the_start_call() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.engine.shutdown();
    h.settle().await;
    // The start call reached the backend, then the process died before it
    // recorded the execution.
    let mut record = h.record(&id).await;
    record.stage = Stage::Starting;
    let record = store(&h, &record).await;
    let request = StartRequest {
        deployment: record.id.clone(),
        service: record.service.clone(),
        version: record.version.clone(),
        environment: record.environment.clone(),
        requester: record.requester.clone(),
        document: "Deploy-Docs".into(),
        document_version: None,
        parameters: [("ReleaseVersion".to_owned(), "r-1.0.0".to_owned())].into(),
        idempotency_token: record.idempotency_token,
    };
    h.backend.start(&request).await.unwrap();

    let h2 = h.restart();
    h2.engine.resume().await.unwrap();
    h2.settle().await;
    assert_eq!(h2.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(
        h2.backend.executions(),
        1,
        "the same token found the same execution"
    );
    assert_audited_once(&h2, &[AuditAction::Started, AuditAction::Succeeded]);
}

#[tokio::test(start_paused = true)]
async fn restart_while_waiting_for_approval() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    let posts_before = h.posts();

    let h2 = h.restart();
    h2.engine.resume().await.unwrap();
    h2.settle().await;
    assert_eq!(
        h2.posts(),
        posts_before,
        "no second status message or approval request"
    );

    assert_eq!(
        h2.click(BOB, ButtonAction::Approve, &id).await,
        Handled::Accepted
    );
    h2.settle().await;
    assert_eq!(h2.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h2.backend.signals().len(), 1);
    assert_eq!(h2.backend.executions(), 1);
    assert_audited_once(
        &h2,
        &[
            AuditAction::Started,
            AuditAction::ApprovalRequested,
            AuditAction::Approved,
            AuditAction::Signalled,
            AuditAction::Succeeded,
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn restart_just_after_the_approval_signal() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    h.engine.shutdown();
    h.settle().await;
    // The decision was recorded and the signal sent, then the process died
    // before it recorded that the signal went out.
    let mut record = h.record(&id).await;
    let wait = record.approval.as_mut().unwrap();
    wait.decision = Some(Signal::Approve);
    wait.approvals.push(chatdeploy_core::state::Approval {
        by: BOB.into(),
        at: chrono::Utc::now(),
    });
    record.approved_by.push(BOB.into());
    let record = store(&h, &record).await;
    let execution = record.execution.clone().unwrap();
    h.backend
        .signal(&execution, Signal::Approve, "sent before the crash")
        .await
        .unwrap();

    let h2 = h.restart();
    h2.engine.resume().await.unwrap();
    h2.settle().await;
    assert_eq!(h2.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(h2.backend.signals().len(), 1, "never a second signal");
}

#[tokio::test(start_paused = true)]
async fn restart_with_the_decision_recorded_but_not_sent() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy app r-99.1.0").await);
    h.settle().await;
    h.engine.shutdown();
    h.settle().await;
    let mut record = h.record(&id).await;
    record.approval.as_mut().unwrap().decision = Some(Signal::Approve);
    store(&h, &record).await;

    let h2 = h.restart();
    h2.engine.resume().await.unwrap();
    h2.settle().await;
    assert_eq!(h2.record(&id).await.stage, Stage::Succeeded);
    assert_eq!(
        h2.backend.signals().len(),
        1,
        "the recorded decision is sent once"
    );
}

#[tokio::test(start_paused = true)]
async fn restart_in_the_middle_of_finishing() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    h.settle().await;
    // Roll the record back to "outcome stored, nothing else done".
    let mut record = h.record(&id).await;
    assert!(record.finalized);
    record.finalized = false;
    store(&h, &record).await;
    let lock = chatdeploy_core::state::ServiceLock {
        service: "docs".into(),
        holder: chatdeploy_core::state::LockHolder::Release {
            deployment: id.clone(),
            version: "r-1.0.0".into(),
            requester: ALICE.into(),
        },
        since: chrono::Utc::now(),
    };
    h.state.try_lock(&lock).await.unwrap();

    let h2 = h.restart();
    assert_eq!(h2.engine.resume().await.unwrap(), 1);
    h2.settle().await;
    assert!(h2.record(&id).await.finalized);
    assert!(
        h2.state.lock("docs").await.unwrap().is_none(),
        "the lock is released"
    );
    assert_eq!(h2.state.history("docs", 10).await.unwrap().len(), 1);
    assert_audited_once(&h2, &[AuditAction::Succeeded]);
    assert_eq!(h2.backend.executions(), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_finishing_release_record_its_end() {
    let h = Harness::new();
    let id = released(h.say(ALICE, "deploy docs r-1.0.0").await);
    // Shut down while the release runs; the supervisor ends at its next step.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    h.engine.shutdown();
    assert!(
        h.engine
            .until_stopped(std::time::Duration::from_secs(60))
            .await
    );
    assert_eq!(h.engine.supervised(), 0);
    // Nothing was lost: a new engine picks the release up and finishes it.
    let h2 = h.restart();
    assert_eq!(h2.engine.resume().await.unwrap(), 1);
    h2.settle().await;
    assert!(h2.record(&id).await.finalized);
    assert_audited_once(&h2, &[AuditAction::Started, AuditAction::Succeeded]);
}

#[tokio::test(start_paused = true)]
async fn restart_between_storing_the_release_and_auditing_its_request() {
    let h = Harness::new();
    // The handler stored the release and took the lock, then the process
    // died before the `requested` record was written.
    let mut record = chatdeploy_core::state::contract::sample_deployment("d-0000000001", "docs", 0);
    record.source_event = "EvLost".into();
    h.state.create_deployment(&record).await.unwrap();
    let lock = chatdeploy_core::state::ServiceLock {
        service: "docs".into(),
        holder: chatdeploy_core::state::LockHolder::Release {
            deployment: record.id.clone(),
            version: record.version.clone(),
            requester: record.requester.clone(),
        },
        since: chrono::Utc::now(),
    };
    h.state.try_lock(&lock).await.unwrap();

    // While the audit log is down, nothing starts.
    h.audit.fail_actions(&[AuditAction::Requested]);
    let h2 = h.restart();
    h2.engine.resume().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    assert_eq!(h2.backend.executions(), 0, "fail closed");
    h2.audit.fail_actions(&[]);
    h2.settle().await;
    assert_eq!(h2.record(&record.id).await.stage, Stage::Succeeded);
    assert_eq!(h2.backend.executions(), 1);
    assert_audited_once(
        &h2,
        &[
            AuditAction::Requested,
            AuditAction::Started,
            AuditAction::Succeeded,
        ],
    );
    let requested = h2
        .audit
        .events()
        .into_iter()
        .find(|e| e.action == AuditAction::Requested)
        .unwrap();
    assert_eq!(
        requested.id, "EvLost:requested",
        "the same ID the handler would have used"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unaudited_request_leaves_nothing_to_resume() {
    let h = Harness::new();
    h.audit.fail_actions(&[AuditAction::Requested]);
    assert_eq!(h.say(ALICE, "deploy docs r-1.0.0").await, Handled::Refused);
    h.audit.fail_actions(&[]);
    let h2 = h.restart();
    assert_eq!(
        h2.engine.resume().await.unwrap(),
        0,
        "the stored release was closed"
    );
    h2.settle().await;
    assert_eq!(h2.backend.executions(), 0);
    assert!(h2.state.lock("docs").await.unwrap().is_none());
}
