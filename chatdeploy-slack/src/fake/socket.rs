//! A fake Socket Mode server on loopback: accepts the listener's websocket,
//! says hello, pushes envelopes and records the acks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::lock;

#[derive(Debug, Default)]
struct Shared {
    acks: Mutex<Vec<String>>,
    current: Mutex<Option<mpsc::UnboundedSender<WsMessage>>>,
    connections: AtomicUsize,
}

/// The fake Socket Mode server. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeSocketModeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSocketModeServer {
    /// Starts the fake on `127.0.0.1` with a free port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        serve(ws, shared).await;
                    }
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The websocket URL, as `apps.connections.open` would answer it.
    pub fn url(&self) -> String {
        format!("ws://{}/link/?ticket=fake-ticket&app_id=A0FAKE", self.addr)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The `envelope_id`s acknowledged so far, in order.
    pub fn acks(&self) -> Vec<String> {
        lock(&self.shared.acks).clone()
    }

    /// Pushes a raw message to the current connection; `false` without one.
    pub fn push(&self, message: &Value) -> bool {
        lock(&self.shared.current)
            .as_ref()
            .is_some_and(|tx| tx.send(WsMessage::text(message.to_string())).is_ok())
    }

    /// Pushes an `events_api` envelope carrying `event_callback`.
    pub fn push_events_api(
        &self,
        envelope_id: &str,
        retry_attempt: u32,
        event_callback: Value,
    ) -> bool {
        self.push(&json!({
            "envelope_id": envelope_id,
            "payload": event_callback,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": retry_attempt,
            "retry_reason": if retry_attempt > 0 { "timeout" } else { "" },
        }))
    }

    /// Pushes a `slash_commands` envelope with the command's fields.
    pub fn push_slash_command(&self, envelope_id: &str, command: Value) -> bool {
        self.push(&json!({
            "envelope_id": envelope_id,
            "payload": command,
            "type": "slash_commands",
            "accepts_response_payload": true,
        }))
    }

    /// Pushes an `interactive` envelope (e.g. a `block_actions` payload).
    pub fn push_interactive(&self, envelope_id: &str, payload: Value) -> bool {
        self.push(&json!({
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "interactive",
            "accepts_response_payload": false,
        }))
    }

    /// Tells the client to reconnect, as Slack does before it refreshes a
    /// connection.
    pub fn push_disconnect(&self) -> bool {
        self.push(&json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-fake"},
        }))
    }

    /// Drops the current connection without a `disconnect` message, like a
    /// network failure.
    pub fn drop_connection(&self) {
        lock(&self.shared.current).take();
    }

    /// Waits until at least `n` acks arrived (polling; `false` on timeout).
    pub async fn wait_for_acks(&self, n: usize, timeout: Duration) -> bool {
        wait(timeout, || lock(&self.shared.acks).len() >= n).await
    }

    /// Waits until at least `n` connections were accepted and the latest
    /// can receive pushes.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        wait(timeout, || {
            self.connections() >= n && lock(&self.shared.current).is_some()
        })
        .await
    }
}

impl Drop for FakeSocketModeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn wait(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

async fn serve(ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, shared: Arc<Shared>) {
    let (mut sink, mut stream) = ws.split();
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0FAKE"},
    });
    if sink.send(WsMessage::text(hello.to_string())).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    *lock(&shared.current) = Some(tx);
    shared.connections.fetch_add(1, Ordering::SeqCst);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(message) => if sink.send(message).await.is_err() { break },
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let ack: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if let Some(id) = ack.get("envelope_id").and_then(Value::as_str) {
                        lock(&shared.acks).push(id.to_owned());
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
