#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The bounded event backlog of the Events API listener: a full backlog
//! answers 503 before the event is recorded anywhere, so Slack's
//! redelivery is handled as a first delivery; clicks and slash commands
//! wait a little for room first, as Slack does not redeliver them.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chatdeploy_slack::EventsApiListener;
use chatdeploy_slack::fake::payloads;
use support::{Gate, mention_event, now};
use tower::ServiceExt;

const SECRET: &str = "backlog-test-secret";

fn signed(path: &str, body: &str) -> Request<Body> {
    let (ts, sig) = payloads::sign(SECRET, now(), body.as_bytes());
    Request::post(path)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn status(router: &axum::Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

fn click(user: &str) -> String {
    payloads::interaction_form(&payloads::block_actions(
        user,
        "C1",
        "1.1",
        "chatdeploy_approve",
        "d-1",
    ))
}

fn slash_command() -> String {
    payloads::form_encode(&payloads::slash_command("U3", "C1", "status", "trig-1"))
}

#[tokio::test]
async fn an_event_refused_with_503_is_handled_when_slack_delivers_it_again() {
    let gate = Gate::new();
    let router = EventsApiListener::new(SECRET, gate.clone())
        .with_bot_user("U0BOT")
        .with_max_in_flight(1)
        .router();

    let first = signed("/slack/events", &mention_event("EvFirst"));
    assert_eq!(status(&router, first).await, StatusCode::OK);
    assert_eq!(
        gate.wait_for(1).await,
        ["EvFirst"],
        "with the engine, held there"
    );

    let second = mention_event("EvSecond");
    assert_eq!(
        status(&router, signed("/slack/events", &second)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Not ignored events, nor challenges: those need no room.
    let challenge = r#"{"type":"url_verification","challenge":"c"}"#;
    assert_eq!(
        status(&router, signed("/slack/events", challenge)).await,
        StatusCode::OK
    );

    gate.release(1);
    // Slack's redelivery (a new signature, the same event): room now.
    let mut again = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        again = status(&router, signed("/slack/events", &second)).await;
        if again == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(again, StatusCode::OK);
    gate.release(1);
    assert_eq!(gate.wait_for(2).await, ["EvFirst", "EvSecond"]);
}

#[tokio::test]
async fn a_click_waits_for_room_in_a_full_backlog() {
    let gate = Gate::new();
    let router = EventsApiListener::new(SECRET, gate.clone())
        .with_bot_user("U0BOT")
        .with_max_in_flight(1)
        .with_interactive_wait(Duration::from_secs(30))
        .router();
    assert_eq!(
        status(&router, signed("/slack/events", &mention_event("EvHeld"))).await,
        StatusCode::OK
    );
    assert_eq!(gate.wait_for(1).await.len(), 1);

    let clicked = tokio::spawn({
        let router = router.clone();
        async move { status(&router, signed("/slack/interactions", &click("U2"))).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!clicked.is_finished(), "the click waits for room");
    // An event arriving meanwhile does not jump the queue.
    assert_eq!(
        status(&router, signed("/slack/events", &mention_event("EvLate"))).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    gate.release(2);
    assert_eq!(clicked.await.unwrap(), StatusCode::OK);
    let ids = gate.wait_for(2).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], "EvHeld");
}

#[tokio::test]
async fn clicks_and_commands_are_refused_when_no_room_frees_in_time() {
    let gate = Gate::new();
    let router = EventsApiListener::new(SECRET, gate.clone())
        .with_bot_user("U0BOT")
        .with_max_in_flight(1)
        .with_interactive_wait(Duration::from_millis(50))
        .router();
    assert_eq!(
        status(&router, signed("/slack/events", &mention_event("EvHeld"))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&router, signed("/slack/interactions", &click("U2"))).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(&router, signed("/slack/commands", &slash_command())).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    gate.release(1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        gate.ids(),
        ["EvHeld"],
        "the refused ones never reached the handler"
    );

    // Once there is room, the person's second click goes through.
    assert_eq!(
        status(&router, signed("/slack/interactions", &click("U2"))).await,
        StatusCode::OK
    );
    assert_eq!(gate.wait_for(2).await.len(), 2);
}
