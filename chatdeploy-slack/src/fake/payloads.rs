//! Slack's inbound payloads in their documented shapes, and request signing,
//! for tests that play Slack.

use serde_json::{Value, json};

use crate::inbound::SignatureVerifier;

/// An `event_callback` wrapping `event` (Events API body / `events_api` payload).
pub fn event_callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"enterprise_id": null, "team_id": "T0FAKE", "user_id": "U0DEPLOYBOT", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-fake",
    })
}

/// An `app_mention` event.
pub fn app_mention(user: &str, channel: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": "T0FAKE",
    })
}

/// A direct message (`message` with `channel_type: im`).
pub fn direct_message(user: &str, channel: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "team": "T0FAKE",
    })
}

/// A `block_actions` payload for a click on a button of a bot message.
pub fn block_actions(
    user: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE",
        "token": "XXYYZZ",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel, "name": "deploys"},
        "message": {
            "type": "message", "user": "U0DEPLOYBOT", "bot_id": "B0DEPLOYBOT",
            "ts": message_ts, "text": "Approval needed", "blocks": [],
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/fake",
        "actions": [{
            "action_id": action_id,
            "block_id": "approval",
            "text": {"type": "plain_text", "text": "Approve", "emoji": true},
            "value": value,
            "style": "primary",
            "type": "button",
            "action_ts": "1700000100.000200",
        }],
    })
}

/// A slash command's fields (JSON for Socket Mode; see [`form_encode`]).
pub fn slash_command(user: &str, channel: &str, text: &str, trigger_id: &str) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": "T0FAKE",
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "deploys",
        "user_id": user,
        "user_name": "someone",
        "command": "/deploy",
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0FAKE/1/fake",
        "trigger_id": trigger_id,
    })
}

/// Form-encodes a JSON object's string fields (slash commands over HTTP).
pub fn form_encode(fields: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    if let Some(map) = fields.as_object() {
        for (key, value) in map {
            match value {
                Value::String(s) => form.append_pair(key, s),
                other => form.append_pair(key, &other.to_string()),
            };
        }
    }
    form.finish()
}

/// The body of an interaction request: `payload=<JSON>`.
pub fn interaction_form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// The `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers Slack
/// would send for `body` at `timestamp`.
pub fn sign(signing_secret: &str, timestamp: u64, body: &[u8]) -> (String, String) {
    let signature = SignatureVerifier::new(signing_secret).sign(timestamp, body);
    (timestamp.to_string(), signature)
}

/// A Socket Mode envelope of `kind` (`events_api`, `slash_commands`,
/// `interactive`) carrying `payload`, as Slack pushes it first:
/// `accepts_response_payload` for slash commands, and for `events_api` the
/// retry fields at their first-delivery values (`retry_attempt` 0,
/// `retry_reason` empty).
pub fn socket_envelope(kind: &str, envelope_id: &str, payload: Value) -> Value {
    let mut envelope = json!({
        "envelope_id": envelope_id,
        "payload": payload,
        "type": kind,
        "accepts_response_payload": kind == "slash_commands",
    });
    if kind == "events_api"
        && let Some(map) = envelope.as_object_mut()
    {
        map.insert("retry_attempt".into(), json!(0));
        map.insert("retry_reason".into(), json!(""));
    }
    envelope
}
