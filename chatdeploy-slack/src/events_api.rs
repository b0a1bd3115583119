//! The Events API listener: axum routes for `/slack/events`,
//! `/slack/interactions` and `/slack/commands`.
//!
//! Every request is answered at once: signature checked (401), size capped
//! (413), payload read (400), redelivery dropped, the event handed to a
//! spawned task, 200. The handler is never awaited in the request.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chatdeploy_core::engine::{ChatEvent, EventHandler};

use crate::inbound::{Dedupe, EventsApiRequest, SignatureVerifier, Translator};

/// The default cap on a request body (Slack's payloads are far smaller).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Receives Slack's HTTP deliveries and hands them to an [`EventHandler`].
///
/// ```no_run
/// # async fn demo(engine: std::sync::Arc<dyn chatdeploy_core::engine::EventHandler>) -> std::io::Result<()> {
/// let listener = chatdeploy_slack::EventsApiListener::new("signing-secret", engine)
///     .with_bot_user("U0BOT");
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(tcp, listener.router()).await
/// # }
/// ```
#[derive(Clone)]
pub struct EventsApiListener {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: SignatureVerifier,
    translator: Translator,
    dedupe: Dedupe,
    handler: Arc<dyn EventHandler>,
    body_limit: usize,
}

impl std::fmt::Debug for EventsApiListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsApiListener")
            .field("body_limit", &self.inner.body_limit)
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
                dedupe: Dedupe::default(),
                handler,
                body_limit: DEFAULT_BODY_LIMIT,
            }),
        }
    }

    /// The bot's own user ID, whose messages are ignored.
    #[must_use]
    pub fn with_bot_user(self, user: impl Into<String>) -> Self {
        self.rebuild(|inner| inner.translator = Translator::new(Some(user.into())))
    }

    /// How many recent deliveries are remembered to drop redeliveries.
    #[must_use]
    pub fn with_dedupe_capacity(self, capacity: usize) -> Self {
        self.rebuild(|inner| inner.dedupe = Dedupe::new(capacity))
    }

    /// The cap on a request body; larger requests get 413.
    #[must_use]
    pub fn with_body_limit(self, bytes: usize) -> Self {
        self.rebuild(|inner| inner.body_limit = bytes)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            verifier: self.inner.verifier.clone(),
            translator: self.inner.translator.clone(),
            dedupe: Dedupe::default(),
            handler: Arc::clone(&self.inner.handler),
            body_limit: self.inner.body_limit,
        };
        change(&mut inner);
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

impl Inner {
    /// Reads the body within the limit (413) and checks its signature (401),
    /// without copying the headers.
    async fn verified(&self, request: Request) -> Result<Bytes, StatusCode> {
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.body_limit) {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let body = axum::body::to_bytes(body, self.body_limit)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
        self.verify(&parts.headers, &body)?;
        Ok(body)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), StatusCode> {
        let ts = headers
            .get("x-slack-request-timestamp")
            .map(|v| v.as_bytes());
        let sig = headers.get("x-slack-signature").map(|v| v.as_bytes());
        self.verifier
            .verify(ts, sig, body)
            .map_err(|_| StatusCode::UNAUTHORIZED)
    }

    /// Drops a redelivery, spawns the engine's work for a new event.
    fn dispatch(&self, event: ChatEvent) {
        if !self.dedupe.first_time(event.id.as_str()) {
            tracing::debug!(event_id = %event.id, "Slack redelivery dropped");
            return;
        }
        let handler = Arc::clone(&self.handler);
        tokio::spawn(async move {
            handler.handle(event).await;
        });
    }
}

async fn events(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let body = match inner.verified(request).await {
        Ok(body) => body,
        Err(status) => return status.into_response(),
    };
    match inner.translator.events_api(&body) {
        Ok(EventsApiRequest::Challenge(challenge)) => challenge.into_response(),
        Ok(EventsApiRequest::Event(Some(event))) => {
            inner.dispatch(event);
            StatusCode::OK.into_response()
        }
        Ok(EventsApiRequest::Event(None)) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn interactions(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let body = match inner.verified(request).await {
        Ok(body) => body,
        Err(status) => return status.into_response(),
    };
    let payload = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v);
    let Some(payload) = payload else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match inner.translator.interaction(&payload) {
        Ok(Some(event)) => {
            inner.dispatch(event);
            StatusCode::OK.into_response()
        }
        Ok(None) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn commands(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let body = match inner.verified(request).await {
        Ok(body) => body,
        Err(status) => return status.into_response(),
    };
    match inner.translator.slash_command_form(&body) {
        Ok(event) => {
            inner.dispatch(event);
            // An empty 200: the engine replies in the channel itself.
            StatusCode::OK.into_response()
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
