#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The fake Socket Mode server plays Slack: several connections at once,
//! each envelope to a random one (seeded), unacked envelopes pushed again
//! to another connection with `retry_attempt` and `retry_reason`, up to
//! Slack's retry count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatdeploy_slack::fake::{
    FakeSlackApi, FakeSocketModeConfig, FakeSocketModeServer, SLACK_RETRIES, payloads,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const WAIT: Duration = Duration::from_secs(5);

/// A raw Socket Mode client: records what it receives, acks envelopes
/// when `acks` (else holds them, like a stopped process).
struct Client {
    received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn connect(url: &str, acks: bool) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        // The hello: once it is here, the connection is registered.
        let mut first = Vec::new();
        if let Some(Ok(WsMessage::Text(text))) = stream.next().await {
            first.push(serde_json::from_str::<Value>(text.as_str()).unwrap());
        }
        let closed = first.is_empty();
        let received = Arc::new(Mutex::new(first));
        let seen = Arc::clone(&received);
        let task = tokio::spawn(async move {
            if closed {
                return;
            }
            while let Some(Ok(frame)) = stream.next().await {
                let WsMessage::Text(text) = frame else {
                    continue;
                };
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                let id = message["envelope_id"].as_str().map(str::to_owned);
                seen.lock().unwrap().push(message);
                if let (true, Some(id)) = (acks, id) {
                    let ack = json!({ "envelope_id": id }).to_string();
                    if sink.send(WsMessage::text(ack)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Self { received, task }
    }

    fn envelopes(&self) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|m| m.get("envelope_id").is_some())
            .cloned()
            .collect()
    }

    fn hello(&self) -> Value {
        self.received.lock().unwrap()[0].clone()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mention(n: usize) -> Value {
    payloads::socket_envelope(
        "events_api",
        &format!("env-{n}"),
        payloads::event_callback(
            &format!("Ev{n}"),
            payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> status", "1.1"),
        ),
    )
}

async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_are_spread_over_connections_and_unacked_ones_go_to_another() {
    let config = FakeSocketModeConfig::new()
        .with_seed(7)
        .with_ack_timeout(Duration::from_millis(500));
    let server = FakeSocketModeServer::start_with(config).await.unwrap();
    let a = Client::connect(&server.url(), true).await;
    let held = Client::connect(&server.url(), false).await;
    let c = Client::connect(&server.url(), true).await;
    assert!(server.wait_for_open_connections(3, WAIT).await);
    assert_eq!(c.hello()["type"], "hello");
    assert_eq!(c.hello()["num_connections"], 3);

    for n in 0..30 {
        assert!(server.push(&mention(n)));
    }
    let firsts: Vec<usize> = server.pushes().iter().map(|p| p.connection).collect();
    for connection in 0..3 {
        assert!(
            firsts.contains(&connection),
            "connection {connection} got none of {firsts:?}"
        );
    }
    assert!(
        eventually(|| held.envelopes().len() == firsts.iter().filter(|c| **c == 1).count()).await
    );

    // Every envelope is acked once, those held after one redelivery.
    assert!(
        eventually(|| server.unacked().is_empty()).await,
        "{:?}",
        server.unacked()
    );
    let mut acked = server.acks();
    acked.sort();
    acked.dedup();
    assert_eq!(acked.len(), 30);
    assert!(server.undelivered().is_empty());
    let retries: Vec<_> = server
        .pushes()
        .into_iter()
        .filter(|p| p.retry_attempt > 0)
        .collect();
    let mut retried: Vec<String> = retries.iter().map(|p| p.envelope_id.clone()).collect();
    retried.sort();
    let mut expected = held
        .envelopes()
        .iter()
        .map(|e| e["envelope_id"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    expected.sort();
    assert_eq!(
        retried, expected,
        "exactly the held envelopes were pushed again"
    );
    for retry in &retries {
        assert_eq!(retry.retry_attempt, 1);
        assert_ne!(retry.connection, 1, "a retry goes to another connection");
    }
    let redelivered: Vec<Value> = a
        .envelopes()
        .into_iter()
        .chain(c.envelopes())
        .filter(|e| e["retry_attempt"] == 1)
        .collect();
    assert_eq!(redelivered.len(), retries.len());
    for envelope in redelivered {
        assert_eq!(envelope["retry_reason"], "timeout");
        assert_eq!(envelope["type"], "events_api");
        assert_eq!(envelope["accepts_response_payload"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_chooses_the_same_connections() {
    let mut choices = Vec::new();
    for _ in 0..2 {
        let config = FakeSocketModeConfig::new()
            .with_seed(42)
            .without_redelivery();
        let server = FakeSocketModeServer::start_with(config).await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(Client::connect(&server.url(), true).await);
        }
        assert!(server.wait_for_open_connections(4, WAIT).await);
        for n in 0..20 {
            assert!(server.push(&mention(n)));
        }
        let chosen: Vec<usize> = server.pushes().iter().map(|p| p.connection).collect();
        choices.push(chosen);
    }
    assert_eq!(choices[0], choices[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_nobody_acks_is_retried_three_times_then_given_up() {
    let config = FakeSocketModeConfig::new().with_ack_timeout(Duration::from_millis(50));
    let server = FakeSocketModeServer::start_with(config).await.unwrap();
    let only = Client::connect(&server.url(), false).await;
    assert!(server.wait_for_connections(1, WAIT).await);
    assert!(server.push(&mention(1)));
    assert!(eventually(|| server.undelivered() == ["env-1"]).await);
    let attempts: Vec<u32> = server.pushes().iter().map(|p| p.retry_attempt).collect();
    assert_eq!(attempts, (0..=SLACK_RETRIES).collect::<Vec<_>>());
    // With one connection, the retries go to it.
    let received: Vec<Value> = only.envelopes();
    assert_eq!(received.len(), 1 + SLACK_RETRIES as usize);
    assert_eq!(received[3]["retry_attempt"], 3);
    assert!(server.unacked().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_given_connection_and_the_connection_limit() {
    let config = FakeSocketModeConfig::new()
        .with_max_connections(2)
        .without_redelivery();
    let server = FakeSocketModeServer::start_with(config).await.unwrap();
    let first = Client::connect(&server.url(), true).await;
    let second = Client::connect(&server.url(), true).await;
    assert!(server.wait_for_open_connections(2, WAIT).await);
    let third = Client::connect(&server.url(), true).await;
    assert!(eventually(|| third.task.is_finished()).await, "closed");
    assert!(third.received.lock().unwrap().is_empty(), "no hello");
    assert_eq!(server.open_connections().len(), 2);

    assert!(server.push_to(1, &mention(1)));
    assert!(server.wait_for_acks(1, WAIT).await);
    assert_eq!(server.ack_log()[0].connection, 1);
    assert_eq!(second.envelopes().len(), 1);
    assert!(first.envelopes().is_empty());
    server.close(1);
    assert!(eventually(|| server.open_connections().len() == 1).await);
    assert!(!server.push_to(1, &mention(2)), "closed");
    assert!(server.push(&mention(3)));
    assert!(eventually(|| first.envelopes().len() == 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connections_open_gets_a_ticket_of_its_caller() {
    let api = FakeSlackApi::start().await.unwrap();
    let server = FakeSocketModeServer::start().await.unwrap();
    api.set_socket_url(server.url());
    let client = open_url(&api, "xapp-1-r1").await;
    let _one = Client::connect(&client, true).await;
    let other = open_url(&api, "xapp-1-r2").await;
    let _two = Client::connect(&other, true).await;
    assert!(server.wait_for_open_connections(2, WAIT).await);
    let tickets = api.socket_tickets();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[1].auth.as_deref(), Some("Bearer xapp-1-r2"));
    let connections = server.connection_list();
    assert_eq!(
        connections[0].ticket.as_deref(),
        Some(tickets[0].ticket.as_str())
    );
    assert_eq!(
        connections[1].ticket.as_deref(),
        Some(tickets[1].ticket.as_str())
    );
    assert_ne!(tickets[0].ticket, tickets[1].ticket);
}

/// `apps.connections.open` with `token`, over a bare HTTP/1.1 request; the URL.
async fn open_url(api: &FakeSlackApi, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = api.api_url();
    let authority = base
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "POST /api/apps.connections.open HTTP/1.1\r\nHost: {authority}\r\n\
         Authorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["ok"], true, "{body}");
    body["url"].as_str().unwrap().to_owned()
}
