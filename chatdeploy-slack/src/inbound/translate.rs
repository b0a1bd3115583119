//! The one translation of Slack's inbound payloads into core
//! [`ChatEvent`]s, shared by the Events API and Socket Mode listeners.
//!
//! Payloads are read with borrowed strings; only the fields of the
//! resulting [`ChatEvent`] are allocated. Nothing is parsed beyond the wire
//! format: the command text goes to the engine as the person sees it, with
//! Slack's escaping undone ([`unescape`]): no bot mention, no `<…>`
//! constructs, no `&amp;` entities.

use std::borrow::Cow;

use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::chat::ChatEvent;
use serde::Deserialize;

use super::unescape::unescape;

/// A payload that is not what Slack sends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedPayload {
    /// The JSON does not have Slack's shape.
    #[error("malformed Slack JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    /// A form field Slack always sends is missing.
    #[error("the Slack form payload has no `{0}` field")]
    MissingField(&'static str),
}

/// What an Events API request body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventsApiRequest {
    /// `url_verification`: answer with this challenge.
    Challenge(String),
    /// `event_callback`: the translated event, or `None` when it is not for
    /// the engine (the bot's own or another bot's message, an edit, an
    /// event type the bot does not act on).
    Event(Option<ChatEvent>),
}

/// A JSON string, borrowed from the payload unless it has escapes. Serde
/// borrows a `Cow<str>` only when it is the field's type itself: inside an
/// `Option` it would allocate every string (and the event's fields would then
/// be copied once more).
#[derive(Deserialize, Default)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Text<'_> {
    fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

#[derive(Deserialize)]
struct EventsBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    challenge: Option<Text<'a>>,
    #[serde(borrow, default)]
    event_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    event: Option<InnerEvent<'a>>,
}

#[derive(Deserialize)]
struct InnerEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    user: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    ts: Option<Text<'a>>,
    #[serde(borrow, default)]
    thread_ts: Option<Text<'a>>,
    #[serde(borrow, default)]
    channel: Option<Text<'a>>,
    #[serde(borrow, default)]
    channel_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    subtype: Option<Text<'a>>,
    #[serde(borrow, default)]
    bot_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct BlockActions<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    user: IdOnly<'a>,
    #[serde(borrow, default)]
    channel: Option<IdOnly<'a>>,
    #[serde(borrow, default)]
    container: Option<Container<'a>>,
    #[serde(borrow, default)]
    message: Option<ActionMessage<'a>>,
    #[serde(borrow, default)]
    trigger_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    actions: Vec<Action<'a>>,
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Container<'a> {
    #[serde(borrow, default)]
    message_ts: Option<Text<'a>>,
    #[serde(borrow, default)]
    channel_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ActionMessage<'a> {
    #[serde(borrow, default)]
    ts: Option<Text<'a>>,
    #[serde(borrow, default)]
    thread_ts: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Action<'a> {
    #[serde(borrow, default)]
    action_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    value: Option<Text<'a>>,
    #[serde(borrow, default)]
    action_ts: Option<Text<'a>>,
}

/// A slash command's fields (form-encoded over HTTP, JSON in Socket Mode).
#[derive(Deserialize, Default)]
struct SlashCommand<'a> {
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    user_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    channel_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    trigger_id: Option<Text<'a>>,
}

/// Translates Slack payloads into [`ChatEvent`]s for one bot.
#[derive(Debug, Clone, Default)]
pub struct Translator {
    bot_user: Option<String>,
}

impl Translator {
    /// A translator that ignores messages from `bot_user` (the bot itself,
    /// from `auth.test`), besides every message with a `bot_id`.
    pub fn new(bot_user: Option<String>) -> Self {
        Self { bot_user }
    }

    /// An Events API request body (`url_verification` or `event_callback`).
    ///
    /// # Errors
    ///
    /// [`MalformedPayload`] when the body is not Slack's JSON.
    pub fn events_api(&self, body: &[u8]) -> Result<EventsApiRequest, MalformedPayload> {
        let body: EventsBody<'_> = serde_json::from_slice(body)?;
        Ok(match &*body.kind {
            "url_verification" => {
                EventsApiRequest::Challenge(body.challenge.unwrap_or_default().into_owned())
            }
            "event_callback" => EventsApiRequest::Event(match (&body.event_id, &body.event) {
                (Some(id), Some(event)) => self.event(id, event),
                _ => None,
            }),
            _ => EventsApiRequest::Event(None),
        })
    }

    /// An interaction payload (the JSON in the `payload` form field, or a
    /// Socket Mode `interactive` envelope's payload); `None` unless it is a
    /// click on one of the bot's buttons.
    ///
    /// # Errors
    ///
    /// [`MalformedPayload`] when the JSON is not Slack's.
    pub fn interaction(&self, json: &str) -> Result<Option<ChatEvent>, MalformedPayload> {
        let payload: BlockActions<'_> = serde_json::from_str(json)?;
        if payload.kind != "block_actions" {
            return Ok(None);
        }
        let Some((action, deployment, action_ts)) = payload.actions.iter().find_map(|a| {
            let action = ButtonAction::from_id(a.action_id.as_deref()?)?;
            Some((action, a.value.as_deref()?, a.action_ts.as_deref()))
        }) else {
            return Ok(None);
        };
        let container = payload.container.as_ref();
        let channel = payload
            .channel
            .as_ref()
            .map(|c| &*c.id)
            .or_else(|| container.and_then(|c| c.channel_id.as_deref()));
        let Some(channel) = channel else {
            return Ok(None);
        };
        let message_ts = container
            .and_then(|c| c.message_ts.as_deref())
            .or_else(|| payload.message.as_ref().and_then(|m| m.ts.as_deref()));
        // Unique per click, repeated by a redelivery of the same click.
        let id = match (message_ts, action_ts) {
            (Some(ts), Some(ats)) => format!("{ts}:{ats}:{}", payload.user.id),
            _ => payload.trigger_id.as_deref().unwrap_or_default().to_owned(),
        };
        let mut event = ChatEvent::button(id, &*payload.user.id, channel, action, deployment);
        if let Some(ts) = message_ts {
            event = event.with_message(ts);
        }
        if let Some(thread) = payload
            .message
            .as_ref()
            .and_then(|m| m.thread_ts.as_deref())
        {
            event = event.in_thread(thread);
        }
        Ok(Some(event))
    }

    /// A slash command's form-encoded body.
    ///
    /// # Errors
    ///
    /// [`MalformedPayload`] when a field Slack always sends is missing.
    pub fn slash_command_form(&self, body: &[u8]) -> Result<ChatEvent, MalformedPayload> {
        let mut cmd = SlashCommand::default();
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "text" => cmd.text = Some(Text(value)),
                "user_id" => cmd.user_id = Some(Text(value)),
                "channel_id" => cmd.channel_id = Some(Text(value)),
                "trigger_id" => cmd.trigger_id = Some(Text(value)),
                _ => {}
            }
        }
        slash_command(cmd)
    }

    /// A slash command in a Socket Mode `slash_commands` envelope's payload.
    ///
    /// # Errors
    ///
    /// [`MalformedPayload`] when the JSON is not Slack's.
    pub fn slash_command_json(&self, json: &str) -> Result<ChatEvent, MalformedPayload> {
        slash_command(serde_json::from_str(json)?)
    }

    /// An `events_api` envelope's payload (an `event_callback`).
    ///
    /// # Errors
    ///
    /// [`MalformedPayload`] when the JSON is not Slack's.
    pub fn event_callback_json(&self, json: &str) -> Result<Option<ChatEvent>, MalformedPayload> {
        match self.events_api(json.as_bytes())? {
            EventsApiRequest::Event(event) => Ok(event),
            EventsApiRequest::Challenge(_) => Ok(None),
        }
    }

    fn event(&self, id: &str, event: &InnerEvent<'_>) -> Option<ChatEvent> {
        if event.bot_id.is_some() || event.subtype.is_some() {
            return None;
        }
        let user = event.user.as_deref()?;
        if self.bot_user.as_deref() == Some(user) {
            return None;
        }
        let is_command = match &*event.kind {
            "app_mention" => true,
            "message" => event.channel_type.as_deref() == Some("im"),
            _ => false,
        };
        if !is_command {
            return None;
        }
        let channel = event.channel.as_deref()?;
        let text = event.text.as_deref().unwrap_or_default();
        let mut out = ChatEvent::command(id, user, channel, command_text(text));
        if let Some(ts) = event.ts.as_deref() {
            out = out.with_message(ts);
        }
        if let Some(thread) = event.thread_ts.as_deref() {
            out = out.in_thread(thread);
        }
        Some(out)
    }
}

fn slash_command(cmd: SlashCommand<'_>) -> Result<ChatEvent, MalformedPayload> {
    let user = cmd
        .user_id
        .ok_or(MalformedPayload::MissingField("user_id"))?;
    let channel = cmd
        .channel_id
        .ok_or(MalformedPayload::MissingField("channel_id"))?;
    let trigger = cmd
        .trigger_id
        .ok_or(MalformedPayload::MissingField("trigger_id"))?;
    let text = cmd.text.unwrap_or_default();
    Ok(ChatEvent::command(
        trigger.into_owned(),
        user.into_owned(),
        channel.into_owned(),
        command_text(&text),
    ))
}

/// The text of a mention, direct message or slash command as the engine
/// takes it: plain, without surrounding whitespace.
fn command_text(text: &str) -> String {
    unescape(text).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_strings_are_borrowed_unless_escaped() {
        let body: EventsBody<'_> = serde_json::from_str(
            r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","text":"a\nb","user":"U1"}}"#,
        )
        .unwrap();
        assert!(matches!(body.event_id, Some(Text(Cow::Borrowed("Ev1")))));
        let event = body.event.unwrap();
        assert!(matches!(event.user, Some(Text(Cow::Borrowed("U1")))));
        assert_eq!(event.text.as_deref(), Some("a\nb"));
        assert!(matches!(event.text, Some(Text(Cow::Owned(_)))), "unescaped");
    }

    #[test]
    fn every_command_text_is_plain() {
        let translator = Translator::new(Some("U0BOT".into()));
        let text = |event: ChatEvent| match event.kind {
            chatdeploy_core::chat::ChatEventKind::Command { text } => text,
            other => panic!("{other:?}"),
        };
        let mention = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","user":"U1","channel":"C1","ts":"1.1","text":"<@U0BOT> lock app see <https://x.example/CHG-9|CHG-9> &amp; <#C2|ops>"}}"#;
        let EventsApiRequest::Event(Some(event)) = translator.events_api(mention).unwrap() else {
            panic!("no event");
        };
        assert_eq!(text(event), "lock app see CHG-9 & #ops");
        let dm = br#"{"type":"event_callback","event_id":"Ev2","event":{"type":"message","channel_type":"im","user":"U1","channel":"D1","text":"  reject d-1 ask &lt;@U2&gt; "}}"#;
        let EventsApiRequest::Event(Some(event)) = translator.events_api(dm).unwrap() else {
            panic!("no event");
        };
        assert_eq!(text(event), "reject d-1 ask <@U2>");
        let form = b"text=lock+app+%3C%40U2%7Calice%3E+%26amp%3B+more&user_id=U1&channel_id=C1&trigger_id=t1";
        assert_eq!(
            text(translator.slash_command_form(form).unwrap()),
            "lock app @U2 & more"
        );
        let json = r#"{"text":"<@U0BOT> status &lt;app&gt;","user_id":"U1","channel_id":"C1","trigger_id":"t2"}"#;
        assert_eq!(
            text(translator.slash_command_json(json).unwrap()),
            "status <app>"
        );
    }
}
