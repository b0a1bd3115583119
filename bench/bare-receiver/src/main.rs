//! The ceiling of the receive-path benchmark (see `docs/PERFORMANCE.md`).
//!
//! A bare Slack Events API receiver: hyper 1 over tokio's current_thread
//! runtime that verifies the v0 signature (HMAC-SHA256, constant-time
//! comparison, five-minute timestamp window), parses the envelope with
//! serde_json (borrowing), drops a repeated `event_id` (a bounded set of the
//! last 8,192, as DESIGN.md's ceiling has), matches the mention text with a
//! regex and answers 200 — nothing else. Whatever a real receiver adds shows
//! as the distance from this one.
//!
//! Usage: `bare-receiver --listen 127.0.0.1:PORT --secret SIGNING_SECRET`

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::error::Error;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use regex::Regex;
use serde::Deserialize;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

type HmacSha256 = Hmac<Sha256>;

/// Requests whose text matched the command regex (printed at shutdown).
static MATCHED: AtomicU64 = AtomicU64::new(0);
/// Requests answered 200.
static ACKED: AtomicU64 = AtomicU64::new(0);

/// What the handler needs, shared by every connection.
struct Shared {
    /// The keyed MAC, cloned per request so the key schedule is paid once.
    mac: HmacSha256,
    command: Regex,
    recent: Recent,
}

/// The last few thousand event IDs (keyed hashes), to drop Slack's retries.
struct Recent {
    hasher: RandomState,
    seen: Mutex<(HashSet<u64>, VecDeque<u64>)>,
}

impl Recent {
    const CAPACITY: usize = 8_192;

    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            seen: Mutex::new((
                HashSet::with_capacity(Self::CAPACITY + 1),
                VecDeque::with_capacity(Self::CAPACITY + 1),
            )),
        }
    }

    /// `true` the first time `id` is seen (among the last CAPACITY).
    fn first_time(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *guard;
        if !set.insert(hash) {
            return false;
        }
        order.push_back(hash);
        if order.len() > Self::CAPACITY
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

/// The part of an `event_callback` envelope the receiver looks at.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    /// A `Cow` field of its own (not in an `Option`), so that serde borrows it.
    #[serde(borrow, default)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event: Option<Event<'a>>,
}

/// The inner event.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Cow<'a, str>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let (listen, secret) = parse_args()?;
    let shared = Arc::new(Shared {
        mac: HmacSha256::new_from_slice(secret.as_bytes())?,
        command: Regex::new(r"^<@U[A-Z0-9]+>\s+(\w+)")?,
        recent: Recent::new(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(serve(listen, shared))
}

async fn serve(listen: SocketAddr, shared: Arc<Shared>) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        stream.set_nodelay(true)?;
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            // A peer closing its connection is not the receiver's error.
            // One flattened write per small answer (as chatdeploy's listener).
            let _ = http1::Builder::new()
                .writev(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    println!(
        "acked {} matched {}",
        ACKED.load(Ordering::Relaxed),
        MATCHED.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(reply(StatusCode::BAD_REQUEST));
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    ) else {
        return Ok(reply(StatusCode::UNAUTHORIZED));
    };
    if !verify(&shared.mac, ts, sig, &body) {
        return Ok(reply(StatusCode::UNAUTHORIZED));
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(&body) else {
        return Ok(reply(StatusCode::BAD_REQUEST));
    };
    if envelope.kind == "event_callback"
        && !envelope.event_id.is_empty()
        && shared.recent.first_time(&envelope.event_id)
        && let Some(event) = &envelope.event
        && event.kind == "app_mention"
        && let Some(caps) = shared.command.captures(&event.text)
        && caps.get(1).is_some()
    {
        MATCHED.fetch_add(1, Ordering::Relaxed);
    }
    ACKED.fetch_add(1, Ordering::Relaxed);
    Ok(reply(StatusCode::OK))
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

/// Slack's v0 check: fresh timestamp, `v0=hex(HMAC(secret, "v0:ts:body"))`,
/// compared in constant time.
fn verify(mac: &HmacSha256, ts: &str, sig: &str, body: &[u8]) -> bool {
    let Ok(ts_secs) = ts.parse::<u64>() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(ts_secs) > 300 {
        return false;
    }
    let Some(expected) = sig.strip_prefix("v0=").and_then(decode_hex32) else {
        return false;
    };
    let mut mac = mac.clone();
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn parse_args() -> Result<(SocketAddr, String), Box<dyn Error>> {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut secret = std::env::var("SLACK_SIGNING_SECRET").ok();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--secret" => secret = Some(value()?),
            "-h" | "--help" => {
                println!("usage: bare-receiver --listen 127.0.0.1:PORT --secret SIGNING_SECRET");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let secret = secret.ok_or("--secret (or SLACK_SIGNING_SECRET) is required")?;
    Ok((listen, secret))
}
