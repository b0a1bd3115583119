//! End to end through the public APIs: signed Events API requests into the
//! Slack listener, the engine, SsmBackend against the SSM emulator, the real
//! SlackSurface against the fake Slack Web API, SQLite state and a JSONL
//! audit file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use chatdeploy::core::audit::AuditAction;
use support::{ALICE, BOB, EVE, World};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_with_approval_from_mention_to_summary() {
    let w = World::start().await;
    assert_eq!(
        w.mention(
            "Ev1",
            ALICE,
            "deploy app r-99.1.0",
            "1700000001.000100",
            None
        )
        .await,
        200
    );

    w.wait_until("the approval request", LIMIT, |w| {
        w.approval_request().is_some()
    })
    .await;
    let (deployment, request_ts) = w.approval_request().unwrap();
    let request = w
        .slack
        .messages()
        .into_iter()
        .find(|m| m.ts == request_ts)
        .unwrap();
    assert_eq!(
        request.thread_ts.as_deref(),
        Some("1700000001.000100"),
        "in the request's thread"
    );
    assert!(
        request.text.contains("<@U0BOB>"),
        "mentions the approver: {}",
        request.text
    );
    let blocks = request.blocks.to_string();
    assert!(
        blocks.contains("chatdeploy_reject") && blocks.contains("\"confirm\""),
        "{blocks}"
    );
    assert!(
        !w.slack.calls_to("chat.update").is_empty(),
        "progress updates the status message in place"
    );

    assert_eq!(
        w.click(BOB, "chatdeploy_approve", &deployment, &request_ts)
            .await,
        200
    );
    w.wait_until("the summary", LIMIT, |w| {
        w.texts().iter().any(|t| t.contains("succeeded in"))
    })
    .await;

    assert_eq!(w.emulator.executions(), 1);
    assert_eq!(w.emulator.call_count("SendAutomationSignal"), 1);
    let request = w
        .slack
        .messages()
        .into_iter()
        .find(|m| m.ts == request_ts)
        .unwrap();
    assert!(
        request.text.contains("approved by <@U0BOB>"),
        "{}",
        request.text
    );
    w.wait_until("the outcome record", LIMIT, |w| {
        w.audit_count(AuditAction::Succeeded) == 1
    })
    .await;
    for action in [
        AuditAction::Requested,
        AuditAction::Started,
        AuditAction::ApprovalRequested,
        AuditAction::Approved,
        AuditAction::Signalled,
        AuditAction::Succeeded,
    ] {
        assert_eq!(w.audit_count(action), 1, "{action:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_stops_the_release() {
    let w = World::start().await;
    let (deployment, request_ts) = w.request_release().await;
    assert_eq!(
        w.click(BOB, "chatdeploy_reject", &deployment, &request_ts)
            .await,
        200
    );
    w.wait_until("the summary", LIMIT, |w| {
        w.texts()
            .iter()
            .any(|t| t.contains("was rejected by <@U0BOB>"))
    })
    .await;
    assert_eq!(w.emulator.call_count("SendAutomationSignal"), 1);
    assert!(w.emulator.call_count("GetAutomationExecution") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_by_a_non_approver_is_refused_privately() {
    let w = World::start().await;
    let (deployment, request_ts) = w.request_release().await;
    assert_eq!(
        w.click(EVE, "chatdeploy_approve", &deployment, &request_ts)
            .await,
        200
    );
    w.wait_until("the denial", LIMIT, |w| !w.ephemerals(EVE).is_empty())
        .await;
    assert!(
        w.ephemerals(EVE)[0].contains("not an approver of app"),
        "{:?}",
        w.ephemerals(EVE)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.emulator.call_count("SendAutomationSignal"),
        0,
        "nothing signalled"
    );
    assert_eq!(w.audit_count(AuditAction::ApprovalDenied), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_starts_one_execution() {
    let w = World::start().await;
    assert_eq!(
        w.mention(
            "EvTwice",
            ALICE,
            "deploy app r-99.1.0",
            "1700000001.000100",
            None
        )
        .await,
        200
    );
    assert_eq!(
        w.mention(
            "EvTwice",
            ALICE,
            "deploy app r-99.1.0",
            "1700000001.000100",
            Some(1)
        )
        .await,
        200
    );
    w.wait_until("the approval request", LIMIT, |w| {
        w.approval_request().is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.emulator.executions(), 1);
    assert_eq!(w.emulator.call_count("StartAutomationExecution"), 1);
    assert_eq!(w.audit_count(AuditAction::Requested), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_requests_never_reach_the_engine() {
    let w = World::start().await;
    let body = r#"{"type":"event_callback","event_id":"EvForged","event":{"type":"app_mention","user":"U0ALICE","text":"deploy app r-99.1.0","channel":"C0DEPLOY","ts":"1.2"}}"#;
    let request = format!(
        "POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         X-Slack-Request-Timestamp: 1531420618\r\nX-Slack-Signature: v0=00\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w.audit().is_empty());
    assert_eq!(w.emulator.executions(), 0);
}
