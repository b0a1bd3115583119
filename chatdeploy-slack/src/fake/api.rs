//! A fake Slack Web API on loopback: records every call, keeps the posted
//! messages, and answers like Slack (including 429 and error codes).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::lock;

/// One recorded Web API call.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    /// The method, e.g. `chat.postMessage`.
    pub method: String,
    /// The parameters: the JSON body, or the form / query fields as strings.
    pub params: Value,
    /// The `Authorization` header, e.g. `Bearer xoxb-…`.
    pub auth: Option<String>,
}

/// A failure the fake answers once instead of the normal reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeFailure {
    /// HTTP 429 with `Retry-After` in seconds and `{"ok":false,"error":"ratelimited"}`.
    RateLimited {
        /// The `Retry-After` header's value.
        retry_after_secs: u64,
    },
    /// HTTP 200 with `{"ok":false,"error":code}`.
    Error(String),
}

/// A message as the fake keeps it (the latest version after updates).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeMessage {
    /// The channel.
    pub channel: String,
    /// The message's `ts`.
    pub ts: String,
    /// The thread it was posted in.
    pub thread_ts: Option<String>,
    /// The fallback text.
    pub text: String,
    /// The blocks as sent.
    pub blocks: Value,
    /// For ephemeral messages, the one user who sees it.
    pub ephemeral_to: Option<String>,
    /// How many times it was updated.
    pub edits: u32,
}

#[derive(Debug, Default)]
struct FakeState {
    calls: Vec<ApiCall>,
    messages: Vec<FakeMessage>,
    failures: Vec<(String, Option<String>, FakeFailure)>,
    groups: HashMap<String, Vec<String>>,
    not_member: HashSet<String>,
    missing: HashSet<String>,
    socket_url: Option<String>,
    tickets: Vec<SocketTicket>,
    next_ts: u64,
}

/// A websocket URL the fake handed out from `apps.connections.open`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketTicket {
    /// The `ticket` query parameter added to the URL (unique per call).
    pub ticket: String,
    /// The caller's `Authorization` header, e.g. `Bearer xapp-…`.
    pub auth: Option<String>,
}

/// The fake Web API. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeSlackApi {
    addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

/// The bot user the fake's `auth.test` reports.
pub const FAKE_BOT_USER: &str = "U0DEPLOYBOT";
const FAKE_BOT_ID: &str = "B0DEPLOYBOT";

impl FakeSlackApi {
    /// Starts the fake on `127.0.0.1` with a free port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/api/{method}", any(api))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The Web API base URL for `SlackSurface::builder().with_api_url(..)`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The bot user ID `auth.test` answers.
    pub fn bot_user(&self) -> &'static str {
        FAKE_BOT_USER
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.state).calls.clone()
    }

    /// The calls to `method`, in order.
    pub fn calls_to(&self, method: &str) -> Vec<ApiCall> {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The messages (posted and ephemeral), latest version of each.
    pub fn messages(&self) -> Vec<FakeMessage> {
        lock(&self.state).messages.clone()
    }

    /// Answers the next call to `method` (for `channel` only, when given)
    /// with `failure`, once.
    pub fn fail_next(&self, method: &str, channel: Option<&str>, failure: FakeFailure) {
        lock(&self.state)
            .failures
            .push((method.to_owned(), channel.map(str::to_owned), failure));
    }

    /// Sets a user group's members.
    pub fn set_group(&self, group: &str, members: &[&str]) {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        lock(&self.state).groups.insert(group.to_owned(), members);
    }

    /// Makes the bot a non-member of `channel` (`not_in_channel`).
    pub fn remove_bot_from(&self, channel: &str) {
        lock(&self.state).not_member.insert(channel.to_owned());
    }

    /// Makes `channel` unknown (`channel_not_found`).
    pub fn delete_channel(&self, channel: &str) {
        lock(&self.state).missing.insert(channel.to_owned());
    }

    /// The websocket URL `apps.connections.open` answers, with a `ticket`
    /// query parameter added that is new for each call (as Slack's are).
    pub fn set_socket_url(&self, url: impl Into<String>) {
        lock(&self.state).socket_url = Some(url.into());
    }

    /// The tickets `apps.connections.open` handed out, in order, with who
    /// asked: [`FakeConnection::ticket`](super::FakeConnection::ticket)
    /// tells which caller opened a connection.
    pub fn socket_tickets(&self) -> Vec<SocketTicket> {
        lock(&self.state).tickets.clone()
    }
}

impl Drop for FakeSlackApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn params(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice(body).unwrap_or(Value::Null);
    }
    let mut map = Map::new();
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .chain(form_urlencoded::parse(body));
    for (k, v) in pairs {
        map.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    Value::Object(map)
}

fn str_param<'a>(params: &'a Value, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

async fn api(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(&headers, query.as_deref(), &body);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = lock(&state);
    state.calls.push(ApiCall {
        method: method.clone(),
        params: params.clone(),
        auth: auth.clone(),
    });
    let channel = str_param(&params, "channel").map(str::to_owned);
    let failure = state
        .failures
        .iter()
        .position(|(m, c, _)| *m == method && (c.is_none() || c.as_deref() == channel.as_deref()));
    if let Some(index) = failure {
        let (_, _, failure) = state.failures.remove(index);
        return match failure {
            FakeFailure::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                axum_json(&json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response(),
            FakeFailure::Error(code) => axum_json(&json!({"ok": false, "error": code})),
        };
    }
    let Some(token) = auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")) else {
        return axum_json(&json!({"ok": false, "error": "not_authed"}));
    };
    if method == "apps.connections.open" && !token.starts_with("xapp-") {
        return axum_json(&json!({"ok": false, "error": "not_allowed_token_type"}));
    }
    if method != "apps.connections.open" && token.starts_with("xapp-") {
        return axum_json(&json!({"ok": false, "error": "not_allowed_token_type"}));
    }
    if method == "apps.connections.open" {
        return axum_json(&open_connection(&mut state, auth));
    }
    if let Some(channel) = &channel {
        if state.missing.contains(channel) {
            return axum_json(&json!({"ok": false, "error": "channel_not_found"}));
        }
        let needs_membership = matches!(method.as_str(), "chat.postMessage" | "chat.postEphemeral");
        if needs_membership && state.not_member.contains(channel) {
            return axum_json(&json!({"ok": false, "error": "not_in_channel"}));
        }
    }
    axum_json(&reply(&mut state, &method, &params))
}

fn reply(state: &mut FakeState, method: &str, params: &Value) -> Value {
    let channel = str_param(params, "channel").unwrap_or_default().to_owned();
    let text = str_param(params, "text").unwrap_or_default().to_owned();
    let blocks = params
        .get("blocks")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    match method {
        "auth.test" => json!({
            "ok": true, "url": "https://fake-workspace.slack.com/", "team": "Fake Workspace",
            "user": "deploybot", "team_id": "T0FAKE", "user_id": FAKE_BOT_USER,
            "bot_id": FAKE_BOT_ID, "is_enterprise_install": false,
        }),
        "chat.postMessage" | "chat.postEphemeral" => {
            state.next_ts += 1;
            let ts = format!("1700000000.{:06}", state.next_ts);
            let thread_ts = str_param(params, "thread_ts").map(str::to_owned);
            let ephemeral_to = (method == "chat.postEphemeral")
                .then(|| str_param(params, "user").unwrap_or_default().to_owned());
            state.messages.push(FakeMessage {
                channel: channel.clone(),
                ts: ts.clone(),
                thread_ts: thread_ts.clone(),
                text: text.clone(),
                blocks: blocks.clone(),
                ephemeral_to: ephemeral_to.clone(),
                edits: 0,
            });
            if ephemeral_to.is_some() {
                return json!({"ok": true, "message_ts": ts});
            }
            let mut message = json!({
                "type": "message", "text": text, "ts": ts,
                "user": FAKE_BOT_USER, "bot_id": FAKE_BOT_ID, "blocks": blocks,
            });
            if let (Some(thread), Some(map)) = (thread_ts, message.as_object_mut()) {
                map.insert("thread_ts".into(), Value::String(thread));
            }
            json!({"ok": true, "channel": channel, "ts": ts, "message": message})
        }
        "chat.update" => {
            let ts = str_param(params, "ts").unwrap_or_default().to_owned();
            let found = state
                .messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts && m.ephemeral_to.is_none());
            let Some(found) = found else {
                return json!({"ok": false, "error": "message_not_found"});
            };
            found.text.clone_from(&text);
            found.blocks = blocks.clone();
            found.edits += 1;
            json!({
                "ok": true, "channel": channel, "ts": ts, "text": text,
                "message": {"text": text, "user": FAKE_BOT_USER, "bot_id": FAKE_BOT_ID, "blocks": blocks},
            })
        }
        "usergroups.users.list" => {
            let group = str_param(params, "usergroup").unwrap_or_default();
            match state.groups.get(group) {
                Some(users) => json!({"ok": true, "users": users}),
                None => json!({"ok": false, "error": "no_such_subteam"}),
            }
        }
        "conversations.info" => json!({
            "ok": true,
            "channel": {
                "id": channel, "name": format!("deploy-{}", channel.to_lowercase()),
                "is_channel": true, "is_group": false, "is_im": false, "is_private": false,
                "is_archived": false, "created": 1_600_000_000,
                "is_member": !state.not_member.contains(&channel),
            },
        }),
        _ => json!({"ok": false, "error": "unknown_method"}),
    }
}

/// `apps.connections.open`: the socket URL with a fresh ticket.
fn open_connection(state: &mut FakeState, auth: Option<String>) -> Value {
    let Some(url) = &state.socket_url else {
        return json!({"ok": false, "error": "not_allowed"});
    };
    let ticket = format!("fake-ticket-{}", state.tickets.len() + 1);
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}ticket={ticket}");
    state.tickets.push(SocketTicket { ticket, auth });
    json!({"ok": true, "url": url})
}

fn axum_json(value: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}
