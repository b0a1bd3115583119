#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! `EventsApiListener::serve` against clients that hold on: heads and bodies
//! sent a byte at a time, idle connections, more connections than allowed.
//! Each must be cut off (or refused) while real requests keep being
//! answered. Timeouts are short here; the margins on them are generous, as
//! what is checked is that the connection is closed, not exactly when.

mod support;

use std::time::Duration;

use chatdeploy_slack::EventsApiListener;
use support::{Recorder, Served, mention_event, signed_post};

const SECRET: &str = "limits-test-secret";
/// Far beyond every timeout configured here: a connection still open after
/// this was not cut off.
const MARGIN: Duration = Duration::from_secs(5);

fn listener() -> EventsApiListener {
    EventsApiListener::new(SECRET, Recorder::new())
        .with_bot_user("U0BOT")
        .with_header_timeout(Duration::from_millis(300))
        .with_body_timeout(Duration::from_millis(300))
        .with_idle_timeout(Duration::from_secs(30))
}

/// Sends `bytes` one at a time, `every` apart, until done or refused.
fn trickle(mut writer: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, every: Duration) {
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_off() {
    let served = Served::start(listener()).await;
    let stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let (mut reader, writer) = stream.into_split();
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvSlowHead"));
    trickle(writer, request, Duration::from_millis(100));

    let read = tokio::time::timeout(MARGIN, async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        reader.read(&mut buf).await
    })
    .await
    .expect("the connection is closed before the head could ever arrive");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_answered_408_and_cut_off() {
    let recorder = Recorder::new();
    let served = Served::start(
        EventsApiListener::new(SECRET, recorder.clone())
            .with_body_timeout(Duration::from_millis(300))
            .with_idle_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut conn = served.connect().await;
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvSlowBody"));
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    conn.send(&request[..head_end]).await.unwrap();
    let body = request[head_end..].to_vec();
    let (mut reader, writer) = conn.stream.into_split();
    trickle(writer, body, Duration::from_millis(100));

    let answer = tokio::time::timeout(MARGIN, async {
        use tokio::io::AsyncReadExt;
        let mut answer = Vec::new();
        // Everything up to the end of the stream (or a reset).
        let _ = reader.read_to_end(&mut answer).await;
        answer
    })
    .await
    .expect("the connection is closed before the body could ever arrive");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        recorder.settle().await.is_empty(),
        "nothing reached the handler"
    );
}

#[tokio::test]
async fn a_connection_is_closed_when_idle_beyond_the_idle_timeout_and_not_before() {
    let recorder = Recorder::new();
    let served = Served::start(
        EventsApiListener::new(SECRET, recorder.clone())
            .with_bot_user("U0BOT")
            .with_header_timeout(Duration::from_millis(200))
            .with_idle_timeout(Duration::from_millis(1500)),
    )
    .await;

    // Never a byte: closed.
    let mut silent = served.connect().await;
    assert!(
        silent.closed_within(MARGIN).await,
        "an idle connection is closed"
    );

    // Idle for several header timeouts, then a request: still served, as
    // the header timeout counts from a request's first byte.
    let mut quiet = served.connect().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvQuiet"));
    assert_eq!(quiet.request(&request).await, 200);
    // Kept alive for the next request, then closed once idle again.
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvQuiet2"));
    assert_eq!(quiet.request(&request).await, 200);
    assert!(quiet.closed_within(MARGIN).await, "closed once idle again");
    assert_eq!(recorder.wait_for(2).await.len(), 2);
}

#[tokio::test]
async fn beyond_the_connection_limit_new_connections_are_refused_and_open_ones_served() {
    const LIMIT: usize = 8;
    let recorder = Recorder::new();
    let served = Served::start(
        EventsApiListener::new(SECRET, recorder.clone())
            .with_bot_user("U0BOT")
            .with_max_connections(LIMIT)
            .with_idle_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut open = Vec::new();
    for i in 0..LIMIT {
        let mut conn = served.connect().await;
        // One answered request each: the server has taken them all in.
        let request = signed_post(
            SECRET,
            "/slack/events",
            &mention_event(&format!("EvOpen{i}")),
        );
        assert_eq!(conn.request(&request).await, 200, "connection {i}");
        open.push(conn);
    }

    let mut refused = served.connect().await;
    assert!(
        refused.closed_within(MARGIN).await,
        "a connection beyond the limit is closed"
    );
    assert_eq!(
        refused.response().await.unwrap(),
        None,
        "closed without an answer"
    );

    // The open ones are still served.
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvStillServed"));
    assert_eq!(open[0].request(&request).await, 200);
    let request = signed_post(SECRET, "/slack/events", &mention_event("EvStillServed2"));
    assert_eq!(open[LIMIT - 1].request(&request).await, 200);

    // Once one closes, there is room again.
    drop(open.pop());
    let mut admitted = None;
    for _ in 0..100 {
        let mut conn = served.connect().await;
        let request = signed_post(SECRET, "/slack/events", &mention_event("EvAfterRoom"));
        if conn.send(&request).await.is_ok()
            && let Ok(Some((200, _))) = conn.response().await
        {
            admitted = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        admitted.is_some(),
        "a new connection is served once one closed"
    );
    let handled = recorder.wait_for(LIMIT + 3).await;
    assert_eq!(handled.len(), LIMIT + 3, "each answered event handled once");
}
