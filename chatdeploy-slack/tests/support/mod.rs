//! Shared test helpers: handlers that record the events they are given, the
//! Slack surface on the fake Web API, and a raw HTTP/1.1 client for the
//! served Events API listener.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chatdeploy_core::chat::{ChatEvent, EventHandler, Handled};
use chatdeploy_slack::fake::{FakeSlackApi, payloads};
use chatdeploy_slack::{EventsApiListener, SlackSurface};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real Slack surface (slack-morphism's client) on `fake`'s Web API.
pub fn slack_surface(fake: &FakeSlackApi) -> SlackSurface {
    SlackSurface::builder()
        .with_token("xoxb-test-token")
        .with_api_url(fake.api_url())
        .build()
        .unwrap()
}

/// Records every event; answers `Accepted`.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<ChatEvent>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn events(&self) -> Vec<ChatEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (briefly) until `n` events arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<ChatEvent> {
        for _ in 0..400 {
            if self.events.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.events()
    }

    /// Lets spawned work run, then returns what arrived.
    pub async fn settle(&self) -> Vec<ChatEvent> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.events()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: ChatEvent) -> Handled {
        self.events.lock().unwrap().push(event);
        Handled::Accepted
    }
}

/// Records every event, then waits at a gate until let through (to hold
/// events "with the engine" as long as a test needs).
#[derive(Debug)]
pub struct Gate {
    events: Mutex<Vec<ChatEvent>>,
    open: tokio::sync::Semaphore,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(Vec::new()),
            open: tokio::sync::Semaphore::new(0),
        })
    }

    /// Lets `n` waiting (or future) events through.
    pub fn release(&self, n: usize) {
        self.open.add_permits(n);
    }

    /// The IDs of the events received so far.
    pub fn ids(&self) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events.iter().map(|e| e.id.to_string()).collect()
    }

    /// Waits (briefly) until `n` events arrived; returns their IDs.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..400 {
            if self.events.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.ids()
    }
}

#[async_trait]
impl EventHandler for Gate {
    async fn handle(&self, event: ChatEvent) -> Handled {
        self.events.lock().unwrap().push(event);
        self.open.acquire().await.unwrap().forget();
        Handled::Accepted
    }
}

/// A listener served on a loopback port until dropped.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    pub async fn start(listener: EventsApiListener) -> Self {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            listener
                .serve(tcp, async {
                    let _ = stopped.await;
                })
                .await
        });
        Self {
            addr,
            stop: Some(stop),
        }
    }

    pub async fn connect(&self) -> HttpConn {
        HttpConn {
            stream: TcpStream::connect(self.addr).await.unwrap(),
            buf: Vec::new(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed keep-alive POST of `body` to `path`, as it goes on the wire.
pub fn signed_post(secret: &str, path: &str, body: &str) -> Vec<u8> {
    let (ts, sig) = payloads::sign(secret, now(), body.as_bytes());
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nhost: bot\r\nx-slack-request-timestamp: {ts}\r\n\
         x-slack-signature: {sig}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// An `event_callback` with a mention, as Slack sends it.
pub fn mention_event(event_id: &str) -> String {
    payloads::event_callback(
        event_id,
        payloads::app_mention("U1", "C1", "<@U0BOT> status", "1.1"),
    )
    .to_string()
}

/// One HTTP/1.1 client connection, raw enough to misbehave.
#[derive(Debug)]
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    /// Sends `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a request and reads its answer's status.
    pub async fn request(&mut self, bytes: &[u8]) -> u16 {
        self.send(bytes).await.unwrap();
        self.response().await.unwrap().expect("an answer").0
    }

    /// The next response's status and body; `None` when the server closed
    /// the connection first.
    pub async fn response(&mut self) -> std::io::Result<Option<(u16, Vec<u8>)>> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await? {
                return Ok(None);
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while self.buf.len() < head_end + length {
            if !self.fill().await? {
                return Ok(None);
            }
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Some((status, body)))
    }

    /// Whether the server closes the connection (end of stream or reset)
    /// within `limit`; anything it sends first is kept for [`response`].
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let read = async {
            loop {
                match self.fill().await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => return,
                }
            }
        };
        tokio::time::timeout(limit, read).await.is_ok()
    }

    /// Reads more; `false` at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }
}

/// The number of threads in this process, from `/proc/self/status`.
pub fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
