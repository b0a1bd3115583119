//! Slack's side: over the Events API, signed requests to a random
//! replica, redelivered to another one when a delivery fails, as Slack
//! retries; over Socket Mode, envelopes the fake Socket Mode server pushes
//! to a random connection (and again to another one while unacked).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatdeploy::slack::fake::payloads;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ALICE, CHANNEL, Cluster, LIMIT, SECRET, Transport};

/// How long Slack waits for an answer before it counts a delivery as
/// failed.
const SLACK_TIMEOUT: Duration = Duration::from_secs(3);

/// The environment variable that replays a run's delivery choices.
const SEED_VAR: &str = "CHATDEPLOY_REPLICAS_SEED";

/// The seed from `CHATDEPLOY_REPLICAS_SEED`, or a fresh one.
pub(super) fn seed() -> u64 {
    if let Ok(seed) = std::env::var(SEED_VAR) {
        return seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={seed} is not a number"));
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// SplitMix64: small, seedable, and good enough to pick replicas.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `0..n` shuffled (Fisher-Yates): the order the replicas are tried in.
    fn order(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }
}

/// A delivery Slack got a 200 (Events API) or an ack (Socket Mode) for.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The replica that answered 200, or acked the envelope first.
    pub replica: String,
    /// How many deliveries it took (1 when the first one was taken).
    pub attempts: usize,
    /// When the 200 or the ack arrived.
    pub acked: Instant,
    /// The envelope (Socket Mode).
    pub envelope_id: Option<String>,
}

impl Cluster {
    /// Delivers `body` as Slack would: to a random replica first, then to
    /// the others in random order while a delivery fails. Panics when no
    /// replica answers 200.
    pub async fn deliver(&self, path: &str, content_type: &str, body: &str) -> Delivery {
        let order = self.rng.lock().unwrap().order(self.replicas.len());
        self.deliver_in(&order, path, content_type, body).await
    }

    /// Delivers to the replica named `first`, then (on failure) as
    /// [`deliver`](Self::deliver) does to the others.
    pub async fn deliver_first_to(
        &self,
        first: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Delivery {
        let first = self.index(first);
        let mut order = self.rng.lock().unwrap().order(self.replicas.len());
        order.retain(|i| *i != first);
        order.insert(0, first);
        self.deliver_in(&order, path, content_type, body).await
    }

    async fn deliver_in(
        &self,
        order: &[usize],
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Delivery {
        let mut failures = Vec::new();
        for (attempt, &i) in order.iter().enumerate() {
            let replica = &self.replicas[i];
            let addr = replica.addr.as_deref().expect("an Events API replica");
            let sent = post(addr, path, content_type, body, attempt);
            match tokio::time::timeout(SLACK_TIMEOUT, sent).await {
                Ok(Ok(200)) => {
                    return Delivery {
                        replica: replica.name.clone(),
                        attempts: attempt + 1,
                        acked: Instant::now(),
                        envelope_id: None,
                    };
                }
                Ok(Ok(status)) => failures.push(format!("{}: HTTP {status}", replica.name)),
                Ok(Err(error)) => failures.push(format!("{}: {error}", replica.name)),
                Err(_) => failures.push(format!("{}: no answer within 3 s", replica.name)),
            }
        }
        panic!("no replica took the delivery to {path}: {failures:?}");
    }

    /// Alice asks for `deploy app VERSION` in a message of her own (event
    /// `event_id`, message `ts`).
    pub async fn deploy(&self, event_id: &str, version: &str, ts: &str) -> Delivery {
        self.deploy_via(None, event_id, version, ts).await
    }

    /// As [`deploy`](Self::deploy), delivered first to `first` if given.
    pub async fn deploy_via(
        &self,
        first: Option<&str>,
        event_id: &str,
        version: &str,
        ts: &str,
    ) -> Delivery {
        let text = format!("<@{}> deploy app {version}", self.slack.bot_user());
        let event = payloads::app_mention(ALICE, CHANNEL, &text, ts);
        let callback = payloads::event_callback(event_id, event);
        if self.transport == Transport::SocketMode {
            return self.push_envelope("events_api", callback, first).await;
        }
        let body = callback.to_string();
        let (path, content) = ("/slack/events", "application/json");
        match first {
            Some(first) => self.deliver_first_to(first, path, content, &body).await,
            None => self.deliver(path, content, &body).await,
        }
    }

    /// `user` clicks the Approve button of the approval request (message
    /// `ts`, release `deployment`); delivered first to `first` if given.
    pub async fn approve(
        &self,
        user: &str,
        deployment: &str,
        ts: &str,
        first: Option<&str>,
    ) -> Delivery {
        let payload = payloads::block_actions(user, CHANNEL, ts, "chatdeploy_approve", deployment);
        if self.transport == Transport::SocketMode {
            return self.push_envelope("interactive", payload, first).await;
        }
        let body = payloads::interaction_form(&payload);
        let (path, content) = ("/slack/interactions", "application/x-www-form-urlencoded");
        match first {
            Some(first) => self.deliver_first_to(first, path, content, &body).await,
            None => self.deliver(path, content, &body).await,
        }
    }
}

impl Cluster {
    /// Has the fake Socket Mode server push an envelope of `kind` carrying
    /// `payload`, to `first`'s connection if given, else to a random one,
    /// and waits for its first ack (the fake pushes it again to another
    /// connection while it is not acked). Panics when the fake gives up.
    async fn push_envelope(&self, kind: &str, payload: Value, first: Option<&str>) -> Delivery {
        let socket = self.socket();
        let n = self.envelopes.fetch_add(1, Ordering::SeqCst);
        let envelope_id = format!("{:016x}-{n}", self.seed);
        let envelope = payloads::socket_envelope(kind, &envelope_id, payload);
        let to = first.map(|name| {
            self.connection_of(name)
                .unwrap_or_else(|| panic!("{name} holds no connection"))
        });
        let pushed = socket.deliver(&envelope, to);
        assert!(
            pushed.is_some(),
            "no connection took envelope {envelope_id}"
        );
        let start = Instant::now();
        loop {
            let ack = socket
                .ack_log()
                .into_iter()
                .find(|a| a.envelope_id == envelope_id);
            if let Some(ack) = ack {
                let attempts = socket
                    .pushes()
                    .iter()
                    .filter(|p| p.envelope_id == envelope_id && p.at <= ack.at)
                    .count();
                return Delivery {
                    replica: self.replica_on(ack.connection),
                    attempts,
                    acked: ack.at,
                    envelope_id: Some(envelope_id),
                };
            }
            assert!(
                !socket.undelivered().contains(&envelope_id),
                "no replica acked {kind} envelope {envelope_id}: {:?}",
                socket.pushes()
            );
            assert!(
                start.elapsed() < LIMIT,
                "{kind} envelope {envelope_id} not acked within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The connections `envelope_id` was pushed to, as replica names, in
    /// order.
    pub fn pushed_to(&self, envelope_id: &str) -> Vec<String> {
        self.socket()
            .pushes()
            .iter()
            .filter(|p| p.envelope_id == envelope_id)
            .map(|p| self.replica_on(p.connection))
            .collect()
    }

    /// The replicas that acked `envelope_id`, in order.
    pub fn acked_by(&self, envelope_id: &str) -> Vec<String> {
        self.socket()
            .ack_log()
            .iter()
            .filter(|a| a.envelope_id == envelope_id)
            .map(|a| self.replica_on(a.connection))
            .collect()
    }
}

/// POSTs a body signed as Slack signs it (a retry says so in its
/// headers); the HTTP status, or why there was none.
async fn post(
    addr: &str,
    path: &str,
    content_type: &str,
    body: &str,
    retry: usize,
) -> Result<u16, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (timestamp, signature) = payloads::sign(SECRET, now, body.as_bytes());
    let retry = match retry {
        0 => String::new(),
        n => format!("X-Slack-Retry-Num: {n}\r\nX-Slack-Retry-Reason: http_error\r\n"),
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n\
         X-Slack-Signature: {signature}\r\n{retry}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&response);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {head:?}"))
}
