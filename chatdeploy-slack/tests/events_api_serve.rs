#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! `EventsApiListener::serve`, the listener's own HTTP/1.1 server, over real
//! TCP: it must answer every request exactly as the axum `router()` does,
//! hand the handler the same events, and stop when told to.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::Request;
use chatdeploy_slack::EventsApiListener;
use chatdeploy_slack::fake::payloads;
use http_body_util::BodyExt;
use support::Recorder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

const SECRET: &str = "serve-test-secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One request as it goes on the wire.
#[derive(Clone, Debug)]
struct Wire {
    method: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send the body chunked, without a Content-Length.
    chunked: bool,
}

impl Wire {
    fn signed(path: &'static str, body: &str, ts: u64) -> Self {
        let (ts, sig) = payloads::sign(SECRET, ts, body.as_bytes());
        Self {
            method: "POST",
            path,
            headers: vec![
                ("x-slack-request-timestamp".into(), ts),
                ("x-slack-signature".into(), sig),
            ],
            body: body.as_bytes().to_vec(),
            chunked: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\nhost: bot\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut out = if self.chunked {
            out.push_str("transfer-encoding: chunked\r\n\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend(format!("{:x}\r\n", self.body.len()).as_bytes());
            bytes.extend(&self.body);
            bytes.extend(b"\r\n0\r\n\r\n");
            bytes
        } else {
            out.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
            let mut bytes = out.into_bytes();
            bytes.extend(&self.body);
            bytes
        };
        out.shrink_to_fit();
        out
    }

    fn request(&self) -> Request<Body> {
        let mut builder = Request::builder().method(self.method).uri(self.path);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if !self.chunked {
            builder = builder.header("content-length", self.body.len());
        }
        builder.body(Body::from(self.body.clone())).unwrap()
    }
}

/// Status and body from the served listener, one connection per request.
async fn over_tcp(addr: SocketAddr, wire: &Wire) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&wire.bytes()).await.unwrap();
    let mut head = Vec::new();
    // Read the head, then exactly Content-Length bytes of body.
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// Status and body from the axum router, in process.
async fn through_router(router: &axum::Router, wire: &Wire) -> (u16, String) {
    let response = router.clone().oneshot(wire.request()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn cases() -> Vec<(&'static str, Wire, u16)> {
    let mention = |id: &str, text: &str| {
        payloads::event_callback(id, payloads::app_mention("U1", "C1", text, "1.1")).to_string()
    };
    let event = mention("Ev1", "<@U0BOT> deploy app r-1.0.0");
    let mut forged = Wire::signed("/slack/events", &event, now());
    forged.headers[1].1 = format!("v0={}", "0".repeat(64));
    let mut unsigned = Wire::signed("/slack/events", &event, now());
    unsigned.headers.clear();
    let huge = mention("EvBig", &"x".repeat(70 * 1024));
    let mut huge_chunked = Wire::signed("/slack/events", &huge, now());
    huge_chunked.chunked = true;
    let mut get = Wire::signed("/slack/events", "", now());
    get.method = "GET";
    let click = payloads::interaction_form(&payloads::block_actions(
        "U2",
        "C1",
        "1.1",
        "chatdeploy_approve",
        "d-1",
    ));
    vec![
        (
            "challenge",
            Wire::signed(
                "/slack/events",
                r#"{"type":"url_verification","challenge":"abc123"}"#,
                now(),
            ),
            200,
        ),
        ("mention", Wire::signed("/slack/events", &event, now()), 200),
        (
            "redelivery",
            Wire::signed("/slack/events", &event, now()),
            200,
        ),
        ("forged", forged, 401),
        (
            "stale",
            Wire::signed("/slack/events", &event, now() - 360),
            401,
        ),
        ("unsigned", unsigned, 401),
        (
            "too large",
            Wire::signed("/slack/events", &huge, now()),
            413,
        ),
        ("too large, chunked", huge_chunked, 413),
        (
            "not json",
            Wire::signed("/slack/events", "{not json", now()),
            400,
        ),
        (
            "click",
            Wire::signed("/slack/interactions", &click, now()),
            200,
        ),
        (
            "click without payload",
            Wire::signed("/slack/interactions", "nothing=here", now()),
            400,
        ),
        (
            "slash command",
            Wire::signed(
                "/slack/commands",
                &payloads::form_encode(&payloads::slash_command("U3", "C1", "status", "trig-1")),
                now(),
            ),
            200,
        ),
        ("get", get, 405),
        (
            "unknown path",
            Wire::signed("/slack/other", &event, now()),
            404,
        ),
    ]
}

#[tokio::test]
async fn serve_answers_like_the_router_and_hands_over_the_same_events() {
    let served = Recorder::new();
    let routed = Recorder::new();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let listener = EventsApiListener::new(SECRET, served.clone()).with_bot_user("U0BOT");
        async move {
            listener
                .serve(tcp, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let router = EventsApiListener::new(SECRET, routed.clone())
        .with_bot_user("U0BOT")
        .router();

    for (name, wire, expected) in cases() {
        let from_server = over_tcp(addr, &wire).await;
        let from_router = through_router(&router, &wire).await;
        assert_eq!(from_server.0, expected, "{name}: served status");
        assert_eq!(from_server, from_router, "{name}: served and routed differ");
    }
    assert_eq!(
        over_tcp(
            addr,
            &Wire::signed(
                "/slack/events",
                r#"{"type":"url_verification","challenge":"abc123"}"#,
                now()
            )
        )
        .await
        .1,
        "abc123"
    );

    let served_events = served.wait_for(4).await;
    assert_eq!(
        served_events.len(),
        4,
        "mention, its redelivery, click, slash command"
    );
    assert_eq!(served_events, routed.wait_for(4).await);

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
    assert!(result.is_ok());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port is closed after shutdown"
    );
}
