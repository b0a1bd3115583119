//! `/readyz`: whether the bot can do its work now: the state store answers,
//! Slack is connected and SSM is reachable, each part with why not.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chatdeploy_core::backend::{BackendError, DeployBackend};
use chatdeploy_core::state::StateStore;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

/// How long the state store may take to answer the probe.
const STATE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the state store's answer is reused.
const STATE_TTL: Duration = Duration::from_secs(1);
/// How long SSM may take to answer the probe (the SDK retries within it).
const SSM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long SSM's answer is reused: probes must not load SSM (or its rate
/// limits, shared with the releases).
const SSM_TTL: Duration = Duration::from_secs(5);
/// The longest reason shown for a part.
const MAX_REASON: usize = 300;

/// How Slack reaches the bot.
#[derive(Debug, Clone)]
pub(crate) enum SlackLink {
    /// Socket Mode: connected while the websocket is up.
    SocketMode(watch::Receiver<bool>),
    /// The Events API: ready once its address is bound.
    EventsApi(std::net::SocketAddr),
}

/// What readiness looks at, once the bot has them.
pub(crate) struct Parts {
    /// The state store (`locks()`, a cheap read).
    pub(crate) state: Arc<dyn StateStore>,
    /// The backend (`describe` of a configured document).
    pub(crate) backend: Arc<dyn DeployBackend>,
    /// The document the SSM probe describes (the first service's); `None`
    /// without services.
    pub(crate) document: Option<String>,
    /// Slack's connection.
    pub(crate) slack: SlackLink,
}

/// One part's state: `Ok(detail)` or `Err(why it fails)`.
type Verdict = Result<String, String>;

/// The readiness of the bot, from its start (not ready: starting) to its
/// stop (not ready: stopping).
pub(crate) struct Readiness {
    parts: OnceLock<Parts>,
    stopping: AtomicBool,
    state: Mutex<Option<(Instant, Verdict)>>,
    ssm: Mutex<Option<(Instant, Verdict)>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("started", &self.parts.get().is_some())
            .field("stopping", &self.stopping.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A readiness answer: each part with its verdict.
#[derive(Debug)]
pub(crate) struct Report {
    parts: Vec<(&'static str, Verdict)>,
}

impl Report {
    /// Whether every part is ok.
    pub(crate) fn ready(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(|(_, verdict)| verdict.is_ok())
    }

    /// The body: `ready` or `not ready`, then one line per part.
    pub(crate) fn text(&self) -> String {
        let mut text = String::from(if self.ready() {
            "ready\n"
        } else {
            "not ready\n"
        });
        for (part, verdict) in &self.parts {
            let _ = match verdict {
                Ok(detail) if detail.is_empty() => writeln!(text, "{part}: ok"),
                Ok(detail) => writeln!(text, "{part}: ok ({detail})"),
                Err(why) => writeln!(text, "{part}: failing ({why})"),
            };
        }
        text
    }
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Self {
            parts: OnceLock::new(),
            stopping: AtomicBool::new(false),
            state: Mutex::new(None),
            ssm: Mutex::new(None),
        }
    }

    /// The parts to look at, once the bot has started them (set once).
    pub(crate) fn started(&self, parts: Parts) {
        if self.parts.set(parts).is_err() {
            tracing::debug!("readiness parts were set already");
        }
    }

    /// From now on, not ready: the bot is stopping.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Looks at every part (the slow ones answered from a short cache).
    pub(crate) async fn check(&self) -> Report {
        if self.stopping.load(Ordering::Relaxed) {
            return Report {
                parts: vec![("chatdeploy", Err("stopping".to_owned()))],
            };
        }
        let Some(parts) = self.parts.get() else {
            return Report {
                parts: vec![("chatdeploy", Err("starting".to_owned()))],
            };
        };
        let (state, ssm) = tokio::join!(
            cached(&self.state, STATE_TTL, || probe_state(parts)),
            cached(&self.ssm, SSM_TTL, || probe_ssm(parts)),
        );
        Report {
            parts: vec![
                ("state_store", state),
                ("slack", slack(&parts.slack)),
                ("ssm", ssm),
            ],
        }
    }
}

/// The cached verdict if it is younger than `ttl`, else a fresh one. One
/// probe at a time: concurrent requests wait for it and share its answer.
async fn cached<F, Fut>(
    cache: &Mutex<Option<(Instant, Verdict)>>,
    ttl: Duration,
    probe: F,
) -> Verdict
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Verdict>,
{
    let mut cache = cache.lock().await;
    if let Some((at, verdict)) = cache.as_ref()
        && at.elapsed() < ttl
    {
        return verdict.clone();
    }
    let verdict = probe().await;
    *cache = Some((Instant::now(), verdict.clone()));
    verdict
}

async fn probe_state(parts: &Parts) -> Verdict {
    match tokio::time::timeout(STATE_TIMEOUT, parts.state.locks()).await {
        Ok(Ok(_)) => Ok(String::new()),
        Ok(Err(error)) => Err(reason(&crate::error::sentence(&error))),
        Err(_) => Err(format!("no answer within {}s", STATE_TIMEOUT.as_secs())),
    }
}

/// SSM is reachable when it answers with the bot's credentials: a refusal
/// of the probe's call (access denied, the document missing, throttling) is
/// an answer, left to `chatdeploy check` and the releases to report.
async fn probe_ssm(parts: &Parts) -> Verdict {
    let Some(document) = &parts.document else {
        return Ok("no service configured; not probed".to_owned());
    };
    match tokio::time::timeout(SSM_TIMEOUT, parts.backend.describe(document)).await {
        Ok(Ok(_)) => Ok(String::new()),
        Ok(Err(error @ (BackendError::Unavailable { .. } | BackendError::Credentials { .. }))) => {
            Err(reason(&crate::error::sentence(&error)))
        }
        Ok(Err(error)) => Ok(format!(
            "reachable; DescribeDocument {document}: {}",
            chatdeploy_core::metrics::backend_error_kind(&error)
        )),
        Err(_) => Err(format!("no answer within {}s", SSM_TIMEOUT.as_secs())),
    }
}

fn slack(link: &SlackLink) -> Verdict {
    match link {
        SlackLink::SocketMode(connected) if *connected.borrow() => {
            Ok("Socket Mode connected".to_owned())
        }
        SlackLink::SocketMode(_) => {
            Err("the Socket Mode websocket is down; reconnecting".to_owned())
        }
        SlackLink::EventsApi(address) => Ok(format!("Events API listening on {address}")),
    }
}

/// One line, at most [`MAX_REASON`] characters.
fn reason(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect();
    line
}

#[cfg(test)]
mod tests {
    use chatdeploy_core::state::InMemoryStateStore;
    use chatdeploy_core::testing::ScriptedBackend;

    use super::*;

    fn parts(slack: SlackLink, backend: ScriptedBackend) -> Parts {
        Parts {
            state: Arc::new(InMemoryStateStore::new()),
            backend: Arc::new(backend),
            document: Some("Deploy-App".to_owned()),
            slack,
        }
    }

    #[tokio::test]
    async fn not_ready_while_starting_and_stopping() {
        let readiness = Readiness::new();
        let report = readiness.check().await;
        assert!(!report.ready());
        assert_eq!(report.text(), "not ready\nchatdeploy: failing (starting)\n");
        let (_tx, rx) = watch::channel(true);
        readiness.started(parts(SlackLink::SocketMode(rx), ScriptedBackend::new()));
        assert!(readiness.check().await.ready());
        readiness.stopping();
        assert!(readiness.check().await.text().contains("stopping"));
    }

    #[tokio::test]
    async fn a_socket_down_names_slack() {
        let readiness = Readiness::new();
        let (tx, rx) = watch::channel(true);
        readiness.started(parts(SlackLink::SocketMode(rx), ScriptedBackend::new()));
        let report = readiness.check().await;
        assert!(report.ready(), "{}", report.text());
        assert!(report.text().contains("slack: ok (Socket Mode connected)"));
        tx.send_replace(false);
        let report = readiness.check().await;
        assert!(!report.ready());
        let text = report.text();
        assert!(text.starts_with("not ready\n"), "{text}");
        assert!(
            text.contains("slack: failing (the Socket Mode websocket is down"),
            "{text}"
        );
        assert!(text.contains("state_store: ok\n"), "{text}");
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        let long = format!("a\nb{}", "x".repeat(1000));
        let line = reason(&long);
        assert!(!line.contains('\n'));
        assert_eq!(line.chars().count(), MAX_REASON);
    }
}
