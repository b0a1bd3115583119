//! The Events API listener: axum routes for `/slack/events`,
//! `/slack/interactions` and `/slack/commands`.
//!
//! Every request is answered at once: signature checked (401), size and
//! time capped (413, 408), payload read (400), the event handed to a
//! spawned task (200) if the backlog has room (503 if not). The handler is
//! never awaited in the request; it drops redeliveries itself (the engine
//! remembers every event ID in its state store).
//!
//! The backlog is bounded because every event handed over is work the
//! engine has yet to do (and memory, and state store calls): beyond
//! [`with_max_in_flight`](EventsApiListener::with_max_in_flight) events,
//! the listener says 503 rather than accept an event it may never get to.
//! A refused event is not recorded anywhere (the engine records an event
//! ID only when it handles it), so Slack's redelivery is a first delivery.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chatdeploy_core::chat::{ChatEvent, EventHandler};
use chatdeploy_core::metrics::{self, EventKind, Refusal, Transport};

use tokio::sync::OwnedSemaphorePermit;

use crate::inbound::{
    EventsApiRequest, MalformedPayload, SignatureError, SignatureVerifier, Translator,
};

mod conn;
mod limits;
mod serve;

use crate::backlog::{Backlog, DEFAULT_MAX_IN_FLIGHT};
use limits::Limits;
pub use limits::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_INTERACTIVE_WAIT,
    DEFAULT_MAX_CONNECTIONS,
};

/// The default cap on a request body (Slack's payloads are far smaller).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Receives Slack's HTTP deliveries and hands them to an [`EventHandler`].
///
/// Serve it on its own with [`serve`](Self::serve), which also bounds
/// connections and their timeouts, or mount [`router`](Self::router) in an
/// existing axum application (whose server then keeps the connections; the
/// body limit and timeout and the event backlog apply either way):
///
/// ```no_run
/// # async fn demo(engine: std::sync::Arc<dyn chatdeploy_core::chat::EventHandler>) -> std::io::Result<()> {
/// let listener = chatdeploy_slack::EventsApiListener::new("signing-secret", engine)
///     .with_bot_user("U0BOT");
/// let app = axum::Router::new().nest("/bot", listener.router());
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(tcp, app).await
/// # }
/// ```
#[derive(Clone)]
pub struct EventsApiListener {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    verifier: SignatureVerifier,
    translator: Translator,
    handler: Arc<dyn EventHandler>,
    limits: Limits,
    /// Shared by the clones, so [`router`](EventsApiListener::router) and
    /// [`serve`](EventsApiListener::serve) of one listener share the bound.
    backlog: Backlog,
}

impl std::fmt::Debug for EventsApiListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsApiListener")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl EventsApiListener {
    /// A listener verifying with `signing_secret` and handing events to
    /// `handler`.
    pub fn new(signing_secret: &str, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier: SignatureVerifier::new(signing_secret),
                translator: Translator::default(),
                handler,
                limits: Limits::default(),
                backlog: Backlog::new(DEFAULT_MAX_IN_FLIGHT),
            }),
        }
    }

    /// The bot's own user ID, whose messages are ignored.
    #[must_use]
    pub fn with_bot_user(self, user: impl Into<String>) -> Self {
        self.rebuild(|inner| inner.translator = Translator::new(Some(user.into())))
    }

    /// The cap on a request body; larger requests get 413.
    #[must_use]
    pub fn with_body_limit(self, bytes: usize) -> Self {
        self.rebuild(|inner| inner.limits.body_limit = bytes)
    }

    /// A listener like this one after `change`; the backlog starts empty
    /// (builders run before serving).
    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            verifier: self.inner.verifier.clone(),
            translator: self.inner.translator.clone(),
            handler: Arc::clone(&self.inner.handler),
            limits: self.inner.limits,
            backlog: Backlog::new(self.inner.limits.max_in_flight),
        };
        change(&mut inner);
        inner.backlog = Backlog::new(inner.limits.max_in_flight);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The routes: `POST /slack/events`, `/slack/interactions`, `/slack/commands`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/slack/events", post(events))
            .route("/slack/interactions", post(interactions))
            .route("/slack/commands", post(commands))
            .with_state(Arc::clone(&self.inner))
    }
}

/// The three delivery endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /slack/events`: Events API callbacks.
    Events,
    /// `POST /slack/interactions`: button clicks (form field `payload`).
    Interactions,
    /// `POST /slack/commands`: slash commands (form-encoded).
    Commands,
}

impl Route {
    /// The kind of event the route delivers, for metrics.
    pub(crate) fn kind(self) -> EventKind {
        match self {
            Self::Events => EventKind::Event,
            Self::Interactions => EventKind::Interaction,
            Self::Commands => EventKind::Command,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Events => "Events API callbacks",
            Self::Interactions => "interactions",
            Self::Commands => "slash commands",
        }
    }

    pub(crate) fn from_path(path: &str) -> Option<Self> {
        match path {
            "/slack/events" => Some(Self::Events),
            "/slack/interactions" => Some(Self::Interactions),
            "/slack/commands" => Some(Self::Commands),
            _ => None,
        }
    }
}

/// What a delivery is answered with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// An empty answer with this status.
    Status(StatusCode),
    /// 200 with this plain-text body (the `url_verification` challenge).
    Text(String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Status(status) => status.into_response(),
            Self::Text(text) => text.into_response(),
        }
    }
}

impl Inner {
    /// Whether the declared `Content-Length` is over the limit (413 before
    /// reading anything).
    pub(crate) fn declared_too_large(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > self.limits.body_limit)
    }

    /// Answers one delivery whose body has been read within the limits:
    /// signature (401), payload (400), the event handed to a spawned task
    /// (200) if the backlog has room (503 if not).
    pub(crate) async fn deliver(&self, route: Route, headers: &HeaderMap, body: &[u8]) -> Reply {
        if let Err(error) = self.verify(headers, body) {
            // Debug only: anyone can send these, and they change nothing.
            tracing::debug!(%error, ?route, "Slack request refused");
            refused(Refusal::BadSignature);
            return Reply::Status(StatusCode::UNAUTHORIZED);
        }
        metrics::event_received(Transport::EventsApi, route.kind());
        let event = match route {
            Route::Events => match self.translator.events_api(body) {
                Ok(EventsApiRequest::Challenge(challenge)) => return Reply::Text(challenge),
                Ok(EventsApiRequest::Event(event)) => Ok(event),
                Err(error) => Err(error),
            },
            Route::Interactions => match form_urlencoded::parse(body).find(|(k, _)| k == "payload")
            {
                Some((_, payload)) => self.translator.interaction(&payload),
                None => Err(MalformedPayload::MissingField("payload")),
            },
            // An empty 200 for a slash command: the engine replies itself.
            Route::Commands => self.translator.slash_command_form(body).map(Some),
        };
        match event {
            // Room is taken before anything else happens to the event, so a
            // refused one leaves no trace that would make its redelivery
            // look like a duplicate.
            Ok(Some(event)) => match self.admit(route).await {
                Some(permit) => {
                    self.dispatch(event, permit);
                    Reply::Status(StatusCode::OK)
                }
                None => {
                    self.backlog.refused(route.name());
                    refused(Refusal::BacklogFull);
                    Reply::Status(StatusCode::SERVICE_UNAVAILABLE)
                }
            },
            Ok(None) => Reply::Status(StatusCode::OK),
            Err(error) => {
                // Signed, so from Slack (or someone holding the secret): worth
                // an operator's look, since Slack will not resend it.
                tracing::warn!(%error, ?route, "signed Slack request with a malformed payload");
                refused(Refusal::Malformed);
                Reply::Status(StatusCode::BAD_REQUEST)
            }
        }
    }

    /// Room in the backlog for an event from `route`: at once or never for
    /// Events API callbacks (Slack redelivers them, with backoff), within
    /// the interactive wait for clicks and commands (it does not; a 503
    /// shows the person an error).
    async fn admit(&self, route: Route) -> Option<OwnedSemaphorePermit> {
        if let Some(permit) = self.backlog.try_admit() {
            return Some(permit);
        }
        metrics::backlog_full(Transport::EventsApi);
        match route {
            Route::Events => None,
            Route::Interactions | Route::Commands => {
                self.backlog
                    .admit_within(self.limits.interactive_wait)
                    .await
            }
        }
    }

    /// Reads an axum request's body within the size (413) and time (408)
    /// limits, then answers it.
    async fn receive(&self, route: Route, request: Request) -> Reply {
        let (parts, body) = request.into_parts();
        if self.declared_too_large(&parts.headers) {
            refused(Refusal::TooLarge);
            return Reply::Status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let read = axum::body::to_bytes(body, self.limits.body_limit);
        match limits::within(self.limits.body_timeout, read).await {
            Ok(Ok(body)) => self.deliver(route, &parts.headers, &body).await,
            Ok(Err(_)) => {
                refused(Refusal::TooLarge);
                Reply::Status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Err(_) => {
                refused(Refusal::Timeout);
                Reply::Status(StatusCode::REQUEST_TIMEOUT)
            }
        }
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let ts = headers
            .get("x-slack-request-timestamp")
            .map(|v| v.as_bytes());
        let sig = headers.get("x-slack-signature").map(|v| v.as_bytes());
        self.verifier.verify(ts, sig, body)
    }

    /// Spawns the engine's work for the event, holding its place in the
    /// backlog until the engine is done with it. Redeliveries are dropped by
    /// the engine, which remembers every event ID in its state store (for a
    /// durable store, across restarts too); a second, in-memory check here
    /// would only repeat that work for every event.
    fn dispatch(&self, event: ChatEvent, permit: OwnedSemaphorePermit) {
        let handler = Arc::clone(&self.handler);
        tokio::spawn(async move {
            // Through the vtable: `Arc`'s forwarding impl would box the future twice.
            (*handler).handle(event).await;
            drop(permit);
        });
    }
}

/// Counts a delivery the Events API listener refused.
pub(crate) fn refused(reason: Refusal) {
    metrics::event_refused(Transport::EventsApi, reason);
}

async fn events(State(inner): State<Arc<Inner>>, request: Request) -> Reply {
    inner.receive(Route::Events, request).await
}

async fn interactions(State(inner): State<Arc<Inner>>, request: Request) -> Reply {
    inner.receive(Route::Interactions, request).await
}

async fn commands(State(inner): State<Arc<Inner>>, request: Request) -> Reply {
    inner.receive(Route::Commands, request).await
}
