//! A fake Socket Mode server on loopback, playing Slack's side for one app.
//!
//! Like Slack, it holds several connections at once (an app may open up to
//! [`SLACK_MAX_CONNECTIONS`]; each is greeted with `hello`) and pushes each
//! envelope to one open connection chosen at random: a seeded RNG
//! ([`FakeSocketModeConfig::with_seed`]), so that a run can be replayed.
//! An envelope not acknowledged (`{"envelope_id": …}` on any connection)
//! within the ack timeout (Slack's is about [`SLACK_ACK_TIMEOUT`]) is
//! pushed again with `retry_attempt` one higher and `retry_reason`
//! `"timeout"`, to another connection when there is one, up to
//! [`SLACK_RETRIES`] times; then the fake gives up on it
//! ([`FakeSocketModeServer::undelivered`]). Slack documents the retry
//! fields on `events_api` envelopes; the fake retries every kind, which
//! only makes a test stricter.
//!
//! Every push, ack and connection is recorded, with the connection's
//! `ticket` (the query parameter [`FakeSlackApi`](super::FakeSlackApi)
//! gives each `apps.connections.open` call), so that a test can tell which
//! client held which connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::{lock, payloads};

/// How many connections Slack lets one app hold open at once.
pub const SLACK_MAX_CONNECTIONS: usize = 10;
/// How long Slack waits for an envelope's acknowledgement.
pub const SLACK_ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times Slack pushes an unacknowledged envelope again.
pub const SLACK_RETRIES: u32 = 3;

/// How often the fake looks for envelopes past their ack timeout.
const TICK: Duration = Duration::from_millis(10);

/// How the fake behaves; [`Default`] is Slack's behaviour with seed 0.
#[derive(Debug, Clone)]
pub struct FakeSocketModeConfig {
    seed: u64,
    ack_timeout: Option<Duration>,
    retries: u32,
    max_connections: usize,
}

impl Default for FakeSocketModeConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            ack_timeout: Some(SLACK_ACK_TIMEOUT),
            retries: SLACK_RETRIES,
            max_connections: SLACK_MAX_CONNECTIONS,
        }
    }
}

impl FakeSocketModeConfig {
    /// Slack's behaviour, choosing connections with seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed of the connection choices (the same seed and the same
    /// sequence of pushes and connections choose the same connections).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How long an envelope may stay unacknowledged before it is pushed
    /// again. Default [`SLACK_ACK_TIMEOUT`].
    #[must_use]
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = Some(timeout);
        self
    }

    /// Never pushes an envelope again: each is pushed once.
    #[must_use]
    pub fn without_redelivery(mut self) -> Self {
        self.ack_timeout = None;
        self
    }

    /// How many times an unacknowledged envelope is pushed again.
    /// Default [`SLACK_RETRIES`].
    #[must_use]
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How many connections may be open at once (at least one); one more
    /// is closed at once, without `hello`. Default [`SLACK_MAX_CONNECTIONS`].
    #[must_use]
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// A connection the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeConnection {
    /// Its number: 0 for the first accepted, then 1, 2, …
    pub id: usize,
    /// The `ticket` query parameter of the websocket URL it opened.
    pub ticket: Option<String>,
    /// Whether it is still open.
    pub open: bool,
}

/// One push of an envelope to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeEnvelopePush {
    /// The envelope.
    pub envelope_id: String,
    /// The connection it was pushed to.
    pub connection: usize,
    /// Its `retry_attempt` (0 for the first push).
    pub retry_attempt: u32,
    /// When.
    pub at: Instant,
}

/// One acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeAck {
    /// The envelope acknowledged.
    pub envelope_id: String,
    /// The connection the ack came on.
    pub connection: usize,
    /// When it arrived.
    pub at: Instant,
}

struct Connection {
    ticket: Option<String>,
    /// `None` once closed.
    tx: Option<mpsc::UnboundedSender<WsMessage>>,
}

/// An envelope waiting for its ack.
struct Pending {
    envelope_id: String,
    message: Value,
    retry_attempt: u32,
    /// The connections it was pushed to, in order.
    tried: Vec<usize>,
    deadline: Instant,
}

/// SplitMix64: small and seedable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick(&mut self, among: &[usize]) -> Option<usize> {
        if among.is_empty() {
            return None;
        }
        let n = among.len() as u64;
        among.get((self.next() % n) as usize).copied()
    }
}

struct State {
    connections: Vec<Connection>,
    rng: Rng,
    pending: Vec<Pending>,
    pushes: Vec<FakeEnvelopePush>,
    acks: Vec<FakeAck>,
    undelivered: Vec<String>,
}

struct Shared {
    config: FakeSocketModeConfig,
    state: Mutex<State>,
    accepted: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl State {
    fn open(&self) -> Vec<usize> {
        (0..self.connections.len())
            .filter(|id| self.connections[*id].tx.is_some())
            .collect()
    }

    /// Sends to connection `id`; marks it closed when its task is gone.
    fn send(&mut self, id: usize, message: &Value) -> bool {
        let Some(connection) = self.connections.get_mut(id) else {
            return false;
        };
        let sent = connection
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(WsMessage::text(message.to_string())).is_ok());
        if !sent {
            connection.tx = None;
        }
        sent
    }
}

impl Shared {
    /// Pushes `message` to `first`, or to a random open connection; tracks
    /// an envelope for redelivery. The connection, if any took it.
    fn deliver(&self, message: &Value, first: Option<usize>) -> Option<usize> {
        let mut state = lock(&self.state);
        let target = loop {
            let target = match first {
                Some(id) => id,
                None => {
                    let open = state.open();
                    state.rng.pick(&open)?
                }
            };
            if state.send(target, message) {
                break target;
            }
            if first.is_some() {
                return None;
            }
        };
        let Some(envelope_id) = message.get("envelope_id").and_then(Value::as_str) else {
            return Some(target);
        };
        let retry_attempt = retry_attempt(message);
        let now = Instant::now();
        state.pushes.push(FakeEnvelopePush {
            envelope_id: envelope_id.to_owned(),
            connection: target,
            retry_attempt,
            at: now,
        });
        if let Some(timeout) = self.config.ack_timeout {
            state.pending.retain(|p| p.envelope_id != envelope_id);
            state.pending.push(Pending {
                envelope_id: envelope_id.to_owned(),
                message: message.clone(),
                retry_attempt,
                tried: vec![target],
                deadline: now + timeout,
            });
        }
        Some(target)
    }

    /// Pushes again every envelope past its ack timeout, or gives it up
    /// after the last retry.
    fn redeliver_due(&self, now: Instant) {
        let Some(timeout) = self.config.ack_timeout else {
            return;
        };
        let mut state = lock(&self.state);
        let (due, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut state.pending)
            .into_iter()
            .partition(|p| p.deadline <= now);
        state.pending = waiting;
        for mut pending in due {
            if pending.retry_attempt >= self.config.retries {
                tracing::debug!(envelope_id = %pending.envelope_id, "fake Slack gives up on an unacked envelope");
                state.undelivered.push(pending.envelope_id);
                continue;
            }
            pending.retry_attempt += 1;
            if let Some(map) = pending.message.as_object_mut() {
                map.insert("retry_attempt".into(), json!(pending.retry_attempt));
                map.insert("retry_reason".into(), json!("timeout"));
            }
            // Another connection: one not tried yet, else one other than
            // the last, else the same one.
            let open = state.open();
            let untried: Vec<usize> = open
                .iter()
                .copied()
                .filter(|c| !pending.tried.contains(c))
                .collect();
            let last = pending.tried.last().copied();
            let others: Vec<usize> = open.iter().copied().filter(|c| Some(*c) != last).collect();
            let choice = if !untried.is_empty() {
                state.rng.pick(&untried)
            } else if !others.is_empty() {
                state.rng.pick(&others)
            } else {
                state.rng.pick(&open)
            };
            // With no connection open, the attempt is spent all the same.
            if let Some(connection) = choice
                && state.send(connection, &pending.message)
            {
                state.pushes.push(FakeEnvelopePush {
                    envelope_id: pending.envelope_id.clone(),
                    connection,
                    retry_attempt: pending.retry_attempt,
                    at: now,
                });
                pending.tried.push(connection);
            }
            pending.deadline = now + timeout;
            state.pending.push(pending);
        }
    }

    fn acked(&self, envelope_id: &str, connection: usize) {
        let mut state = lock(&self.state);
        state.acks.push(FakeAck {
            envelope_id: envelope_id.to_owned(),
            connection,
            at: Instant::now(),
        });
        state.pending.retain(|p| p.envelope_id != envelope_id);
    }
}

fn retry_attempt(message: &Value) -> u32 {
    message
        .get("retry_attempt")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// The fake Socket Mode server. Dropping it stops the server and closes
/// its connections.
#[derive(Debug)]
pub struct FakeSocketModeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FakeSocketModeServer {
    /// Starts the fake on `127.0.0.1` with a free port, behaving as Slack
    /// does ([`FakeSocketModeConfig::default`]).
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeSocketModeConfig::default()).await
    }

    /// Starts the fake on `127.0.0.1` with a free port, configured.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start_with(config: FakeSocketModeConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                connections: Vec::new(),
                rng: Rng(config.seed),
                pending: Vec::new(),
                pushes: Vec::new(),
                acks: Vec::new(),
                undelivered: Vec::new(),
            }),
            config,
            accepted: AtomicUsize::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    let mut ticket = None;
                    #[allow(clippy::result_large_err)] // tungstenite's callback type
                    let callback = |request: &Request, response: Response| {
                        ticket = request.uri().query().and_then(|query| {
                            form_urlencoded::parse(query.as_bytes())
                                .find(|(name, _)| name == "ticket")
                                .map(|(_, value)| value.into_owned())
                        });
                        Ok(response)
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await {
                        serve(ws, shared, ticket).await;
                    }
                });
            }
        });
        let tick_shared = Arc::clone(&shared);
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                tick_shared.redeliver_due(Instant::now());
            }
        });
        Ok(Self {
            addr,
            shared,
            tasks: vec![accept, ticker],
        })
    }

    /// The websocket URL, for [`FakeSlackApi::set_socket_url`](super::FakeSlackApi::set_socket_url)
    /// (which adds a `ticket` to it for each `apps.connections.open`).
    pub fn url(&self) -> String {
        format!("ws://{}/link/?app_id=A0FAKE", self.addr)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &FakeSocketModeConfig {
        &self.shared.config
    }

    /// How many connections were accepted so far (greeted with `hello`).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Every connection accepted so far, open or closed, in order.
    pub fn connection_list(&self) -> Vec<FakeConnection> {
        lock(&self.shared.state)
            .connections
            .iter()
            .enumerate()
            .map(|(id, c)| FakeConnection {
                id,
                ticket: c.ticket.clone(),
                open: c.tx.is_some(),
            })
            .collect()
    }

    /// The connections open now.
    pub fn open_connections(&self) -> Vec<FakeConnection> {
        let mut list = self.connection_list();
        list.retain(|c| c.open);
        list
    }

    /// The `envelope_id`s acknowledged so far, in order (one for each ack:
    /// an envelope pushed twice and acked twice is there twice).
    pub fn acks(&self) -> Vec<String> {
        lock(&self.shared.state)
            .acks
            .iter()
            .map(|a| a.envelope_id.clone())
            .collect()
    }

    /// The acknowledgements so far, with their connections and times.
    pub fn ack_log(&self) -> Vec<FakeAck> {
        lock(&self.shared.state).acks.clone()
    }

    /// Every push of an envelope so far (first pushes and redeliveries).
    pub fn pushes(&self) -> Vec<FakeEnvelopePush> {
        lock(&self.shared.state).pushes.clone()
    }

    /// The envelopes waiting for an ack (to be pushed again).
    pub fn unacked(&self) -> Vec<String> {
        lock(&self.shared.state)
            .pending
            .iter()
            .map(|p| p.envelope_id.clone())
            .collect()
    }

    /// The envelopes given up after the last retry, never acknowledged.
    pub fn undelivered(&self) -> Vec<String> {
        lock(&self.shared.state).undelivered.clone()
    }

    /// Pushes a raw message to one open connection chosen at random;
    /// `false` without one. A message with an `envelope_id` is pushed
    /// again until acknowledged (see the module documentation).
    pub fn push(&self, message: &Value) -> bool {
        self.shared.deliver(message, None).is_some()
    }

    /// Pushes a raw message to connection `connection` (a redelivery may
    /// go elsewhere); `false` when it is not open.
    pub fn push_to(&self, connection: usize, message: &Value) -> bool {
        self.shared.deliver(message, Some(connection)).is_some()
    }

    /// Pushes a raw message to `first` if given, else to a random open
    /// connection: the connection it went to, `None` when none took it.
    pub fn deliver(&self, message: &Value, first: Option<usize>) -> Option<usize> {
        self.shared.deliver(message, first)
    }

    /// Pushes an `events_api` envelope carrying `event_callback`.
    pub fn push_events_api(
        &self,
        envelope_id: &str,
        retry_attempt: u32,
        event_callback: Value,
    ) -> bool {
        let mut envelope = payloads::socket_envelope("events_api", envelope_id, event_callback);
        if retry_attempt > 0
            && let Some(map) = envelope.as_object_mut()
        {
            map.insert("retry_attempt".into(), json!(retry_attempt));
            map.insert("retry_reason".into(), json!("timeout"));
        }
        self.push(&envelope)
    }

    /// Pushes a `slash_commands` envelope with the command's fields.
    pub fn push_slash_command(&self, envelope_id: &str, command: Value) -> bool {
        self.push(&payloads::socket_envelope(
            "slash_commands",
            envelope_id,
            command,
        ))
    }

    /// Pushes an `interactive` envelope (e.g. a `block_actions` payload).
    pub fn push_interactive(&self, envelope_id: &str, payload: Value) -> bool {
        self.push(&payloads::socket_envelope(
            "interactive",
            envelope_id,
            payload,
        ))
    }

    /// The latest open connection.
    fn current(&self) -> Option<usize> {
        lock(&self.shared.state).open().last().copied()
    }

    /// Tells the client on the latest open connection to reconnect, as
    /// Slack does before it refreshes a connection.
    pub fn push_disconnect(&self) -> bool {
        let disconnect = json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-fake"},
        });
        self.current()
            .is_some_and(|id| lock(&self.shared.state).send(id, &disconnect))
    }

    /// Drops the latest open connection without a `disconnect` message,
    /// like a network failure.
    pub fn drop_connection(&self) {
        if let Some(id) = self.current() {
            self.close(id);
        }
    }

    /// Closes connection `connection` without a `disconnect` message.
    pub fn close(&self, connection: usize) {
        if let Some(c) = lock(&self.shared.state).connections.get_mut(connection) {
            c.tx = None;
        }
    }

    /// Waits until at least `n` acks arrived (polling; `false` on timeout).
    pub async fn wait_for_acks(&self, n: usize, timeout: Duration) -> bool {
        wait(timeout, || lock(&self.shared.state).acks.len() >= n).await
    }

    /// Waits until at least `n` connections were accepted and the latest
    /// can receive pushes.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        wait(timeout, || {
            self.connections() >= n
                && lock(&self.shared.state)
                    .connections
                    .last()
                    .is_some_and(|c| c.tx.is_some())
        })
        .await
    }

    /// Waits until at least `n` connections are open at once.
    pub async fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        wait(timeout, || lock(&self.shared.state).open().len() >= n).await
    }
}

impl Drop for FakeSocketModeServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for connection in &mut lock(&self.shared.state).connections {
            connection.tx = None;
        }
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

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    shared: Arc<Shared>,
    ticket: Option<String>,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Registered before `hello` goes out, so that pushes queue behind it.
    let registered = {
        let mut state = lock(&shared.state);
        let open = state.open().len();
        (open < shared.config.max_connections).then(|| {
            state.connections.push(Connection {
                ticket,
                tx: Some(tx),
            });
            (state.connections.len() - 1, open + 1)
        })
    };
    let Some((id, num_connections)) = registered else {
        tracing::debug!("fake Slack refuses a connection beyond its limit");
        let _ = sink.send(WsMessage::Close(None)).await;
        return;
    };
    let hello = json!({
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0FAKE"},
    });
    if sink.send(WsMessage::text(hello.to_string())).await.is_ok() {
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(message) => if sink.send(message).await.is_err() { break },
                    None => break,
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        let ack: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                        if let Some(envelope_id) = ack.get("envelope_id").and_then(Value::as_str) {
                            shared.acked(envelope_id, id);
                        }
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    if let Some(connection) = lock(&shared.state).connections.get_mut(id) {
        connection.tx = None;
    }
}
