//! The Socket Mode listener: `apps.connections.open` with the app token, a
//! websocket, an ack for every envelope as soon as its event is with the
//! engine, the engine's work spawned (a bounded number at once),
//! redeliveries dropped, reconnects on `disconnect` and on errors.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chatdeploy_core::chat::{ChatEvent, EventHandler};
use chatdeploy_core::metrics::{self, DedupeLayer, EventKind, Refusal, Transport};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::backlog::{Backlog, DEFAULT_MAX_IN_FLIGHT};
use crate::client::{self, BuildError, SLACK_API_URL};
use crate::inbound::{Dedupe, MalformedPayload, Translator};

/// The Web API method that opens a Socket Mode connection.
const CONNECTIONS_OPEN: &str = "apps.connections.open";

/// The kind of an envelope, for metrics: Slack's envelope type mapped to a
/// fixed word (never Slack's own text).
fn event_kind(envelope_type: &str) -> EventKind {
    match envelope_type {
        "events_api" => EventKind::Event,
        "interactive" => EventKind::Interaction,
        "slash_commands" => EventKind::Command,
        _ => EventKind::Other,
    }
}

/// Why the Socket Mode listener stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketModeError {
    /// The client could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Slack refused the app token (`apps.connections.open`).
    #[error(
        "Slack refused apps.connections.open: {code} (check the xapp- token and that Socket Mode is on)"
    )]
    Refused {
        /// Slack's error code.
        code: String,
    },
    /// Slack could not be asked (`check_app_token` only; `run` retries).
    #[error("cannot reach Slack for apps.connections.open: {detail}")]
    Unreachable {
        /// What went wrong.
        detail: String,
    },
}

/// Receives Slack events over Socket Mode and hands them to an [`EventHandler`].
///
/// At most [`with_max_in_flight`](Self::with_max_in_flight) events are with
/// the engine at once. When that many are, the listener waits for room
/// before it takes the next envelope (and reads nothing more meanwhile): an
/// envelope is acked only once its event is with the engine, and one in
/// hand is never dropped. Not acking it instead would leave it to Slack's
/// few redeliveries, and a long enough overload would outlast them. If
/// Slack's ack deadline passes while the listener waits, Slack sends the
/// envelope again; the listener (or, on another connection, the engine's
/// state store) drops that repeat.
///
/// ```no_run
/// # async fn demo(engine: std::sync::Arc<dyn chatdeploy_core::chat::EventHandler>) -> Result<(), chatdeploy_slack::SocketModeError> {
/// chatdeploy_slack::SocketModeListener::new("xapp-…", engine)
///     .with_bot_user("U0BOT")
///     .run(async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
pub struct SocketModeListener {
    app_token: String,
    api_url: String,
    handler: Arc<dyn EventHandler>,
    translator: Translator,
    dedupe: Dedupe,
    backlog: Backlog,
    min_backoff: Duration,
    max_backoff: Duration,
    /// Whether a websocket is up (from Slack's `hello` to its end).
    connected: watch::Sender<bool>,
}

impl std::fmt::Debug for SocketModeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketModeListener")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    envelope_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    retry_attempt: Option<u32>,
}

/// What an envelope asks of the connection.
enum Step {
    /// Nothing to send.
    Continue,
    /// Slack asks for a new connection.
    Reconnect,
    /// Ack at once: nothing for the engine, or a repeat.
    Ack(String),
    /// Hand the event to the engine, then ack.
    Handle {
        ack: String,
        envelope_id: String,
        event: ChatEvent,
    },
}

impl SocketModeListener {
    /// A listener with the app-level token (`xapp-…`, scope `connections:write`).
    pub fn new(app_token: impl Into<String>, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            app_token: app_token.into(),
            api_url: SLACK_API_URL.to_owned(),
            handler,
            translator: Translator::default(),
            dedupe: Dedupe::default(),
            backlog: Backlog::new(DEFAULT_MAX_IN_FLIGHT),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            connected: watch::Sender::new(false),
        }
    }

    /// Whether the listener is connected to Slack: `true` from Slack's
    /// `hello` on a websocket until that websocket ends (a reconnect, a
    /// network failure, Slack out of reach, the shutdown). Take it before
    /// [`run`](Self::run), e.g. for a readiness probe; it stays readable
    /// (`false`) after the listener stops.
    pub fn connection(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    /// Records whether a websocket is up.
    fn set_connected(&self, up: bool) {
        let was = self.connected.send_replace(up);
        if was != up {
            metrics::socket_mode_connected(up);
        }
    }

    /// The Web API base URL (a fake's in tests).
    #[must_use]
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The bot's own user ID, whose messages are ignored.
    #[must_use]
    pub fn with_bot_user(mut self, user: impl Into<String>) -> Self {
        self.translator = Translator::new(Some(user.into()));
        self
    }

    /// How many events may be with the engine at once (at least one);
    /// beyond it the listener waits for room before taking the next
    /// envelope. Default [`DEFAULT_MAX_IN_FLIGHT`].
    #[must_use]
    pub fn with_max_in_flight(mut self, events: usize) -> Self {
        self.backlog = Backlog::new(events);
        self
    }

    /// The reconnect backoff after an error, doubling from `min` to `max`.
    #[must_use]
    pub fn with_reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Whether Slack (at `api_url`, normally [`SLACK_API_URL`]) accepts
    /// `app_token` for Socket Mode: asks `apps.connections.open` for a
    /// websocket URL without connecting to it (for preflight checks).
    ///
    /// # Errors
    ///
    /// [`SocketModeError::Refused`] when Slack refuses the token (or Socket
    /// Mode is off), [`SocketModeError::Unreachable`] when Slack cannot be
    /// asked, [`SocketModeError::Build`] when the client cannot be built.
    pub async fn check_app_token(app_token: &str, api_url: &str) -> Result<(), SocketModeError> {
        let client = client::build(api_url)?;
        let token = SlackApiToken::new(SlackApiTokenValue::new(app_token.to_owned()));
        let session = client.open_session(&token);
        match session
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(SlackClientError::ApiError(api)) => {
                Err(SocketModeError::Refused { code: api.code })
            }
            Err(error) => Err(SocketModeError::Unreachable {
                detail: error.to_string(),
            }),
        }
    }

    /// Runs until `shutdown` completes.
    ///
    /// # Errors
    ///
    /// [`SocketModeError`] when the client cannot be built or Slack refuses
    /// the app token; connection errors are retried with backoff.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), SocketModeError> {
        let client = client::build(&self.api_url)?;
        let token = SlackApiToken::new(SlackApiTokenValue::new(self.app_token.clone()));
        let tls = client::tls_config()?;
        tokio::pin!(shutdown);
        let mut backoff = self.min_backoff;
        let session = client.open_session(&token);
        let open_request = SlackApiAppsConnectionOpenRequest::new();
        loop {
            metrics::slack_api_call(CONNECTIONS_OPEN);
            let opened = tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = session.apps_connections_open(&open_request) => r,
            };
            if let Err(error) = &opened {
                let kind = match error {
                    SlackClientError::ApiError(_) => "refused",
                    SlackClientError::RateLimitError(_) => "rate_limited",
                    _ => "transport",
                };
                metrics::slack_api_error(CONNECTIONS_OPEN, kind);
            }
            let failed = match opened {
                Ok(resp) => {
                    let url = resp.url.0.to_string();
                    let connector = tokio_tungstenite::Connector::Rustls(Arc::clone(&tls));
                    match tokio_tungstenite::connect_async_tls_with_config(
                        url,
                        None,
                        false,
                        Some(connector),
                    )
                    .await
                    {
                        Ok((ws, _)) => {
                            let served = self.serve(ws, &mut shutdown, &mut backoff).await;
                            self.set_connected(false);
                            match served {
                                None => return Ok(()),
                                Some(failed) => failed,
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "Socket Mode websocket connect failed");
                            true
                        }
                    }
                }
                Err(SlackClientError::ApiError(api)) => {
                    return Err(SocketModeError::Refused { code: api.code });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "apps.connections.open failed");
                    true
                }
            };
            if failed {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(self.max_backoff);
            }
        }
    }

    /// Serves one connection. `None`: shut down; `Some(failed)`: reconnect,
    /// after a backoff when `failed`.
    async fn serve<S>(
        &self,
        ws: tokio_tungstenite::WebSocketStream<S>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        backoff: &mut Duration,
    ) -> Option<bool>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut sink, mut stream) = ws.split();
        loop {
            let frame = tokio::select! {
                () = shutdown.as_mut() => {
                    let _ = sink.close().await;
                    return None;
                }
                frame = stream.next() => frame,
            };
            match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    let ack = match self.on_envelope(text.as_str(), backoff) {
                        Step::Continue => continue,
                        Step::Reconnect => {
                            let _ = sink.close().await;
                            return Some(false);
                        }
                        Step::Ack(ack) => ack,
                        Step::Handle {
                            ack,
                            envelope_id,
                            event,
                        } => {
                            // Unacked if shut down meanwhile: Slack sends it
                            // to another connection.
                            let admitted = tokio::select! {
                                () = shutdown.as_mut() => {
                                    let _ = sink.close().await;
                                    return None;
                                }
                                permit = self.admit() => permit,
                            };
                            let Some(permit) = admitted else {
                                return Some(true);
                            };
                            self.dispatch(&envelope_id, event, permit);
                            ack
                        }
                    };
                    if let Err(err) = sink.send(WsMessage::text(ack)).await {
                        tracing::warn!(error = %err, "Socket Mode ack failed");
                        return Some(true);
                    }
                }
                Some(Ok(WsMessage::Ping(data))) => {
                    let _ = sink.send(WsMessage::Pong(data)).await;
                }
                Some(Ok(WsMessage::Close(_))) | None => return Some(true),
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "Socket Mode websocket error");
                    return Some(true);
                }
            }
        }
    }

    /// Reads one envelope; records nothing for an event the engine is to
    /// handle (that waits for room, see [`dispatch`](Self::dispatch)).
    fn on_envelope(&self, text: &str, backoff: &mut Duration) -> Step {
        let envelope: Envelope<'_> = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable Socket Mode message");
                return Step::Continue;
            }
        };
        match &*envelope.kind {
            "hello" => {
                *backoff = self.min_backoff;
                self.set_connected(true);
                return Step::Continue;
            }
            "disconnect" => return Step::Reconnect,
            _ => {}
        }
        let Some(envelope_id) = envelope.envelope_id.as_deref() else {
            return Step::Continue;
        };
        let ack = serde_json::json!({ "envelope_id": envelope_id }).to_string();
        metrics::event_received(Transport::SocketMode, event_kind(&envelope.kind));
        if self.dedupe.contains(envelope_id) {
            tracing::debug!(envelope_id, "Socket Mode redelivery dropped");
            metrics::event_deduplicated(DedupeLayer::Listener);
            return Step::Ack(ack);
        }
        if envelope.retry_attempt.unwrap_or(0) > 0 {
            tracing::debug!(envelope_id, retry = ?envelope.retry_attempt, "Socket Mode retry");
        }
        let payload = envelope.payload.map_or("{}", RawValue::get);
        match self.translate(&envelope.kind, payload) {
            Ok(Some(event)) if self.dedupe.contains(event.id.as_str()) => {
                tracing::debug!(event_id = %event.id, "Slack redelivery dropped");
                metrics::event_deduplicated(DedupeLayer::Listener);
                self.dedupe.first_time(envelope_id);
            }
            Ok(Some(event)) => {
                return Step::Handle {
                    ack,
                    envelope_id: envelope_id.to_owned(),
                    event,
                };
            }
            Ok(None) => {
                self.dedupe.first_time(envelope_id);
            }
            Err(err) => {
                self.dedupe.first_time(envelope_id);
                metrics::event_refused(Transport::SocketMode, Refusal::Malformed);
                tracing::warn!(error = %err, kind = %envelope.kind, "unreadable Socket Mode payload");
            }
        }
        Step::Ack(ack)
    }

    /// Room for one more event with the engine, waiting for it (with a log
    /// line when it has to).
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Some(permit) = self.backlog.try_admit() {
            return Some(permit);
        }
        metrics::backlog_full(Transport::SocketMode);
        self.backlog
            .refused("Socket Mode envelopes (waiting, not acked yet)");
        self.backlog.admit().await
    }

    fn translate(&self, kind: &str, payload: &str) -> Result<Option<ChatEvent>, MalformedPayload> {
        match kind {
            "events_api" => self.translator.event_callback_json(payload),
            "slash_commands" => self.translator.slash_command_json(payload).map(Some),
            "interactive" => self.translator.interaction(payload),
            _ => Ok(None),
        }
    }

    /// Records the envelope and the event as seen, now that the event has
    /// room with the engine, and spawns the engine's work, holding `permit`
    /// until it is done.
    fn dispatch(&self, envelope_id: &str, event: ChatEvent, permit: OwnedSemaphorePermit) {
        // Both are recorded, whichever is the repeat.
        let new_envelope = self.dedupe.first_time(envelope_id);
        if !(self.dedupe.first_time(event.id.as_str()) && new_envelope) {
            tracing::debug!(event_id = %event.id, "Slack redelivery dropped");
            metrics::event_deduplicated(DedupeLayer::Listener);
            return;
        }
        let handler = Arc::clone(&self.handler);
        tokio::spawn(async move {
            // Through the vtable: `Arc`'s forwarding impl would box the future twice.
            (*handler).handle(event).await;
            drop(permit);
        });
    }
}
