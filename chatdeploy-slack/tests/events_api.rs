#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The Events API listener: signatures, limits, redeliveries, translation.

mod support;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::chat::{ChatEvent, ChatEventKind};
use chatdeploy_slack::EventsApiListener;
use chatdeploy_slack::fake::payloads;
use chatdeploy_slack::inbound::{SignatureError, SignatureVerifier};
use http_body_util::BodyExt;
use support::Recorder;
use tower::ServiceExt;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_EXAMPLE_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_EXAMPLE_SIGNATURE: &str =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn listener(recorder: &Arc<Recorder>) -> axum::Router {
    EventsApiListener::new(SECRET, recorder.clone())
        .with_bot_user("U0DEPLOYBOT")
        .router()
}

fn signed(path: &str, body: &str, ts: u64) -> Request<Body> {
    let (ts, sig) = payloads::sign(SECRET, ts, body.as_bytes());
    Request::post(path)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn slack_published_signing_example_verifies() {
    let verifier = SignatureVerifier::new(SECRET);
    assert_eq!(
        verifier.sign(1_531_420_618, SLACK_EXAMPLE_BODY.as_bytes()),
        SLACK_EXAMPLE_SIGNATURE
    );
    let at = |now| {
        verifier.verify_at(
            now,
            Some(b"1531420618"),
            Some(SLACK_EXAMPLE_SIGNATURE.as_bytes()),
            SLACK_EXAMPLE_BODY.as_bytes(),
        )
    };
    assert_eq!(at(1_531_420_618 + 60), Ok(()));
    assert_eq!(at(1_531_420_618 + 301), Err(SignatureError::Stale));
    let forged = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504";
    assert_eq!(
        verifier.verify_at(
            1_531_420_618,
            Some(b"1531420618"),
            Some(forged.as_bytes()),
            SLACK_EXAMPLE_BODY.as_bytes()
        ),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test]
async fn url_verification_is_answered_with_the_challenge() {
    let recorder = Recorder::new();
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, text) = send(&listener(&recorder), signed("/slack/events", body, now())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
}

#[tokio::test]
async fn bad_requests_are_refused_without_a_handler_call() {
    let recorder = Recorder::new();
    let router = listener(&recorder);
    let event = payloads::event_callback(
        "Ev1",
        payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> deploy app r-1.0.0", "1.1"),
    )
    .to_string();

    // Forged signature.
    let mut req = signed("/slack/events", &event, now());
    req.headers_mut().insert(
        "x-slack-signature",
        format!("v0={}", "0".repeat(64)).parse().unwrap(),
    );
    assert_eq!(send(&router, req).await.0, StatusCode::UNAUTHORIZED);
    // Signed with another secret.
    let (ts, sig) = payloads::sign("other", now(), event.as_bytes());
    let req = Request::post("/slack/events")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(Body::from(event.clone()))
        .unwrap();
    assert_eq!(send(&router, req).await.0, StatusCode::UNAUTHORIZED);
    // Stale timestamp (6 minutes old), and one from the future.
    assert_eq!(
        send(&router, signed("/slack/events", &event, now() - 360))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&router, signed("/slack/events", &event, now() + 360))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Missing headers.
    let req = Request::post("/slack/events")
        .body(Body::from(event.clone()))
        .unwrap();
    assert_eq!(send(&router, req).await.0, StatusCode::UNAUTHORIZED);
    let mut req = signed("/slack/events", &event, now());
    req.headers_mut().remove("x-slack-signature");
    assert_eq!(send(&router, req).await.0, StatusCode::UNAUTHORIZED);
    // Oversized body.
    let big = format!(
        "{{\"type\":\"event_callback\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    assert_eq!(
        send(&router, signed("/slack/events", &big, now())).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mut declared = signed("/slack/events", &big, now());
    declared
        .headers_mut()
        .insert("content-length", big.len().to_string().parse().unwrap());
    assert_eq!(
        send(&router, declared).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Malformed bodies, correctly signed.
    assert_eq!(
        send(&router, signed("/slack/events", "{not json", now()))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&router, signed("/slack/interactions", "nopayload=1", now()))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(
            &router,
            signed("/slack/interactions", "payload=%7Bbad", now())
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&router, signed("/slack/commands", "text=deploy", now()))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    assert!(
        recorder.settle().await.is_empty(),
        "no handler call for a refused request"
    );
}

#[tokio::test]
async fn a_mention_becomes_a_command_and_a_redelivery_keeps_its_event_id() {
    let recorder = Recorder::new();
    let router = listener(&recorder);
    let event = payloads::event_callback(
        "Ev0PV52K21",
        payloads::app_mention(
            "U2CERLKJA",
            "C0DEPLOY",
            "<@U0DEPLOYBOT> deploy app r-99.1.0",
            "1700000001.000100",
        ),
    )
    .to_string();
    assert_eq!(
        send(&router, signed("/slack/events", &event, now())).await,
        (StatusCode::OK, String::new())
    );
    let mut retry = signed("/slack/events", &event, now());
    retry
        .headers_mut()
        .insert("x-slack-retry-num", "1".parse().unwrap());
    retry
        .headers_mut()
        .insert("x-slack-retry-reason", "http_timeout".parse().unwrap());
    assert_eq!(send(&router, retry).await.0, StatusCode::OK);

    // Both are handed over with the same ID: the engine remembers event IDs
    // and drops the second (tests/end_to_end.rs runs one execution for it).
    let events = recorder.wait_for(2).await;
    // The mention of the bot is Slack's markup: the engine gets plain text.
    let expected = ChatEvent::command("Ev0PV52K21", "U2CERLKJA", "C0DEPLOY", "deploy app r-99.1.0")
        .with_message("1700000001.000100");
    assert_eq!(events, vec![expected.clone(), expected]);
}

#[tokio::test]
async fn thread_replies_direct_messages_and_bot_messages() {
    let recorder = Recorder::new();
    let router = listener(&recorder);
    let mut in_thread = payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> status", "2.2");
    in_thread["thread_ts"] = "1.1".into();
    let dm = payloads::direct_message("U1", "D1", "history app", "3.3");
    let mut from_bot = payloads::direct_message("U0DEPLOYBOT", "D1", "I am the bot", "4.4");
    from_bot.as_object_mut().unwrap().remove("bot_id");
    let mut other_bot = payloads::app_mention("U9", "C1", "<@U0DEPLOYBOT> deploy", "5.5");
    other_bot["bot_id"] = "B9".into();
    let mut edit = payloads::direct_message("U1", "D1", "edited", "6.6");
    edit["subtype"] = "message_changed".into();
    let channel_message = {
        let mut m = payloads::direct_message("U1", "C1", "chatter", "7.7");
        m["channel_type"] = "channel".into();
        m
    };
    for (i, event) in [in_thread, dm, from_bot, other_bot, edit, channel_message]
        .into_iter()
        .enumerate()
    {
        let body = payloads::event_callback(&format!("Ev{i}"), event).to_string();
        assert_eq!(
            send(&router, signed("/slack/events", &body, now())).await.0,
            StatusCode::OK
        );
    }
    let mut events = recorder.wait_for(2).await;
    events.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        recorder.settle().await.len(),
        2,
        "bot, edited and channel messages are ignored"
    );
    assert_eq!(
        events,
        vec![
            ChatEvent::command("Ev0", "U1", "C1", "status")
                .with_message("2.2")
                .in_thread("1.1"),
            ChatEvent::command("Ev1", "U1", "D1", "history app").with_message("3.3"),
        ]
    );
}

#[tokio::test]
async fn block_actions_click_becomes_a_button_event() {
    let recorder = Recorder::new();
    let router = listener(&recorder);
    let mut payload = payloads::block_actions(
        "U0APPROVER",
        "C0DEPLOY",
        "1700000002.000200",
        "chatdeploy_approve",
        "d-42",
    );
    payload["message"]["thread_ts"] = "1700000001.000100".into();
    let body = payloads::interaction_form(&payload);
    assert_eq!(
        send(&router, signed("/slack/interactions", &body, now())).await,
        (StatusCode::OK, String::new())
    );
    // The same click delivered again.
    assert_eq!(
        send(&router, signed("/slack/interactions", &body, now()))
            .await
            .0,
        StatusCode::OK
    );
    // Handed over twice with one ID, which the engine drops the second time.
    let events = recorder.wait_for(2).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], events[1]);
    let event = &events[0];
    assert_eq!(event.user.as_str(), "U0APPROVER");
    assert_eq!(event.channel.as_str(), "C0DEPLOY");
    assert_eq!(
        event.message.as_ref().unwrap().as_str(),
        "1700000002.000200"
    );
    assert_eq!(event.thread.as_ref().unwrap().as_str(), "1700000001.000100");
    assert_eq!(
        event.kind,
        ChatEventKind::Button {
            action: ButtonAction::Approve,
            deployment: "d-42".into()
        }
    );
    // An unknown action is acknowledged and ignored.
    let other = payloads::block_actions("U1", "C1", "1.1", "someone_elses_button", "x");
    let body = payloads::interaction_form(&other);
    assert_eq!(
        send(&router, signed("/slack/interactions", &body, now()))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        recorder.settle().await.len(),
        2,
        "the unknown action is not handed over"
    );
}

#[tokio::test]
async fn slash_command_gets_an_immediate_empty_200() {
    let recorder = Recorder::new();
    let router = listener(&recorder);
    let fields = payloads::slash_command(
        "U1",
        "C1",
        "deploy app r-1.2.3 for <https://jira.example/browse/CHG-7|CHG-7>",
        "398738663015.47445629121.803a",
    );
    let body = payloads::form_encode(&fields);
    assert_eq!(
        send(&router, signed("/slack/commands", &body, now())).await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(
        recorder.wait_for(1).await,
        vec![ChatEvent::command(
            "398738663015.47445629121.803a",
            "U1",
            "C1",
            "deploy app r-1.2.3 for CHG-7"
        )]
    );
    // Slack's own example body is a well-formed slash command too.
    let (status, _) = send(
        &router,
        signed("/slack/commands", SLACK_EXAMPLE_BODY, now()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_handler_is_never_awaited_in_the_request() {
    struct Slow;
    #[async_trait::async_trait]
    impl chatdeploy_core::chat::EventHandler for Slow {
        async fn handle(&self, _: ChatEvent) -> chatdeploy_core::chat::Handled {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            chatdeploy_core::chat::Handled::Accepted
        }
    }
    let router = EventsApiListener::new(SECRET, Arc::new(Slow)).router();
    let event = payloads::event_callback("EvSlow", payloads::app_mention("U1", "C1", "hi", "1.1"))
        .to_string();
    let started = std::time::Instant::now();
    assert_eq!(
        send(&router, signed("/slack/events", &event, now()))
            .await
            .0,
        StatusCode::OK
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}
