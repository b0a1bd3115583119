//! Block Kit rendering of the core [`Message`]: a pure function from the
//! transport-neutral message to Slack's JSON, kept within Slack's published
//! limits.
//!
//! Layout, top to bottom: the headline (a section), the fields (sections of
//! at most ten fields), the step list, the detail (cut with an ellipsis and a
//! link to the full log when it is too long), the buttons (one actions block)
//! and the links (one context block). The plain-text `text` fallback is
//! always set.

use chatdeploy_core::chat::{Button, ButtonStyle, Message, StepLine, StepState};
use serde_json::{Value, json};

use crate::mrkdwn::{self, escape};

/// Slack's limit of blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit of characters in a section's text.
pub const MAX_SECTION_TEXT: usize = 3_000;
/// Slack's limit of fields per section.
pub const MAX_FIELDS_PER_SECTION: usize = 10;
/// Slack's limit of characters per section field.
pub const MAX_FIELD_TEXT: usize = 2_000;
/// Slack's limit of characters in a button's label.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Slack's limit of characters in a button's value.
pub const MAX_ACTION_VALUE: usize = 2_000;
/// Slack's limit of characters in a header block.
pub const MAX_HEADER_TEXT: usize = 150;
/// The limit this renderer keeps the top-level `text` fallback under.
pub const MAX_FALLBACK_TEXT: usize = 3_000;

const ELLIPSIS: char = '…';

/// A message rendered for `chat.postMessage` / `chat.update`: the plain-text
/// fallback and the blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The notification / accessibility fallback (`text`).
    pub text: String,
    /// The Block Kit blocks (`blocks`), at most [`MAX_BLOCKS`].
    pub blocks: Vec<Value>,
}

impl Rendered {
    /// The payload as Slack's JSON: `{"text": …, "blocks": […]}`.
    pub fn to_json(&self) -> Value {
        json!({ "text": self.text, "blocks": self.blocks })
    }
}

/// Renders `message` as Block Kit.
pub fn render(message: &Message) -> Rendered {
    let headline = mrkdwn::render(&message.text);
    let mut blocks = Vec::with_capacity(8);
    blocks.push(section(&truncate(&headline, MAX_SECTION_TEXT)));
    for chunk in message.fields.chunks(MAX_FIELDS_PER_SECTION) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|f| {
                mrkdwn(&truncate(
                    &format!(
                        "*{}*\n{}",
                        escape(&f.label.replace('*', "")),
                        mrkdwn::render(&f.value)
                    ),
                    MAX_FIELD_TEXT,
                ))
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    for text in step_sections(&message.steps) {
        blocks.push(section(&text));
    }
    if let Some(detail) = &message.detail {
        let detail = mrkdwn::render(detail);
        blocks.push(section(&cut_detail(&detail, log_link(message))));
    }
    // Keep room for the buttons and the links under Slack's block limit.
    let tail = usize::from(!message.buttons.is_empty()) + usize::from(!message.links.is_empty());
    if blocks.len() + tail > MAX_BLOCKS {
        blocks.truncate(MAX_BLOCKS - tail - 1);
        blocks.push(section(&format!("{ELLIPSIS} (more in the full log)")));
    }
    if !message.buttons.is_empty() {
        let elements: Vec<Value> = message.buttons.iter().take(25).map(button).collect();
        blocks.push(json!({ "type": "actions", "elements": elements }));
    }
    if !message.links.is_empty() {
        let line = message
            .links
            .iter()
            .map(|l| mrkdwn::render(&chatdeploy_core::chat::Text::new().link(&l.label, &l.url)))
            .collect::<Vec<_>>()
            .join("  ·  ");
        blocks.push(json!({
            "type": "context",
            "elements": [mrkdwn(&truncate(&line, MAX_FIELD_TEXT))],
        }));
    }
    Rendered {
        text: truncate(&headline, MAX_FALLBACK_TEXT),
        blocks,
    }
}

/// The mark shown before a step of the given state.
pub fn step_icon(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "⬜",
        StepState::Running => "🔄",
        StepState::WaitingForApproval => "⏳",
        StepState::Done => "✅",
        StepState::Failed => "❌",
        StepState::Skipped => "⏭️",
        _ => "▫️",
    }
}

/// Cuts `text` to at most `max` characters, ending with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(&text[..end]);
            out.push(ELLIPSIS);
            out
        }
    }
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn(text) })
}

/// A mrkdwn text object, `verbatim` so Slack does not auto-link bare URLs
/// or channel names in it (only the `<…>` spans chatdeploy wrote link).
fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

fn plain(text: &str, max: usize) -> Value {
    json!({ "type": "plain_text", "text": truncate(text, max), "emoji": true })
}

/// The step list as section texts, each within [`MAX_SECTION_TEXT`].
fn step_sections(steps: &[StepLine]) -> Vec<String> {
    let mut sections = Vec::new();
    let mut current = String::new();
    for step in steps {
        // Step names and notes come from the backend: escaped, never markup.
        let mut line = format!("{} {}", step_icon(step.state), escape(&step.name));
        if let Some(note) = &step.note {
            line.push_str(&format!(" — {}", escape(note)));
        }
        let line = truncate(&line, MAX_SECTION_TEXT);
        let len = current.chars().count();
        if len > 0 && len + 1 + line.chars().count() > MAX_SECTION_TEXT {
            sections.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        sections.push(current);
    }
    sections
}

/// The link to the full log: a link labelled like a log or an execution,
/// else the first link.
fn log_link(message: &Message) -> Option<(&str, &str)> {
    let wanted = |label: &str| {
        let label = label.to_ascii_lowercase();
        label.contains("log") || label.contains("execution")
    };
    message
        .links
        .iter()
        .find(|l| wanted(&l.label))
        .or_else(|| message.links.first())
        .map(|l| (l.url.as_str(), l.label.as_str()))
}

/// The detail within a section's limit; a cut detail ends with an ellipsis
/// and a link to the full log when the message has one.
fn cut_detail(detail: &str, link: Option<(&str, &str)>) -> String {
    if detail.chars().count() <= MAX_SECTION_TEXT {
        return detail.to_owned();
    }
    let suffix = match link {
        Some((url, label)) => format!(
            "\n{}",
            mrkdwn::render(
                &chatdeploy_core::chat::Text::new().link(format!("Full log: {label}"), url)
            )
        ),
        None => String::new(),
    };
    let room = MAX_SECTION_TEXT.saturating_sub(suffix.chars().count());
    let mut out = truncate(detail, room);
    out.push_str(&suffix);
    out
}

fn button(b: &Button) -> Value {
    let mut element = json!({
        "type": "button",
        "action_id": b.action.id(),
        "text": plain(&b.label, MAX_BUTTON_TEXT),
        "value": truncate(b.deployment.as_str(), MAX_ACTION_VALUE),
    });
    let style = match b.style {
        ButtonStyle::Primary => Some("primary"),
        ButtonStyle::Danger => Some("danger"),
        ButtonStyle::Default => None,
    };
    if let (Some(style), Some(map)) = (style, element.as_object_mut()) {
        map.insert("style".into(), Value::from(style));
    }
    if let (Some(confirm), Some(map)) = (&b.confirm, element.as_object_mut()) {
        map.insert(
            "confirm".into(),
            json!({
                "title": plain(&confirm.title, 100),
                "text": json!({ "type": "plain_text", "text": truncate(&confirm.text, 300), "emoji": true }),
                "confirm": plain(&confirm.confirm, 30),
                "deny": plain(&confirm.deny, 30),
            }),
        );
    }
    element
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_adds_an_ellipsis() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
        assert_eq!(truncate("", 3), "");
    }

    #[test]
    fn long_detail_is_cut_with_a_link_to_the_log() {
        let message = Message::text("failed")
            .with_detail(chatdeploy_core::chat::Text::plain("x".repeat(10_000)))
            .with_link("Release", "https://r")
            .with_link("Execution", "https://e");
        let rendered = render(&message);
        let text = rendered.blocks[1]["text"]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(text.chars().count(), MAX_SECTION_TEXT);
        assert!(
            text.ends_with("…\n<https://e|Full log: Execution>"),
            "{text}"
        );
    }

    #[test]
    fn blocks_stay_under_the_limit() {
        let mut message = Message::text("many");
        for i in 0..600 {
            message = message.with_field(
                format!("f{i}"),
                chatdeploy_core::chat::Text::plain("v".repeat(1_900)),
            );
        }
        let rendered = render(&message.with_link("Log", "https://l"));
        assert_eq!(rendered.blocks.len(), MAX_BLOCKS);
    }
}
