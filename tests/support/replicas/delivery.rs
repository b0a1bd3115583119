//! Slack's side of the Events API: signed requests to a random replica,
//! redelivered to another one when a delivery fails, as Slack retries.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatdeploy::slack::fake::payloads;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ALICE, CHANNEL, Cluster, SECRET};

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

/// A delivery Slack got a 200 for.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The replica that answered 200.
    pub replica: String,
    /// How many replicas were tried (1 when the first one answered).
    pub attempts: usize,
    /// When the 200 arrived.
    pub acked: Instant,
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
            let sent = post(&replica.addr, path, content_type, body, attempt);
            match tokio::time::timeout(SLACK_TIMEOUT, sent).await {
                Ok(Ok(200)) => {
                    return Delivery {
                        replica: replica.name.clone(),
                        attempts: attempt + 1,
                        acked: Instant::now(),
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
        let text = format!("<@{}> deploy app {version}", self.slack.bot_user());
        let event = payloads::app_mention(ALICE, CHANNEL, &text, ts);
        let body = payloads::event_callback(event_id, event).to_string();
        self.deliver("/slack/events", "application/json", &body)
            .await
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
        let body = payloads::interaction_form(&payload);
        let (path, content) = ("/slack/interactions", "application/x-www-form-urlencoded");
        match first {
            Some(first) => self.deliver_first_to(first, path, content, &body).await,
            None => self.deliver(path, content, &body).await,
        }
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
