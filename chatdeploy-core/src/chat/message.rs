//! The transport-neutral message: what the bot says, not how a surface draws it.

use serde::{Deserialize, Serialize};

use super::Text;
use crate::ids::DeploymentId;

/// The overall mood of a message, which a surface may show as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tone {
    /// Plain information.
    #[default]
    Info,
    /// Work under way.
    Progress,
    /// Waiting on a person.
    Attention,
    /// Finished well.
    Success,
    /// Failed, rejected, cancelled or timed out.
    Failure,
}

/// A labelled value, e.g. "Version: r-99.1.0".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// The label (chatdeploy's own words).
    pub label: String,
    /// The value.
    pub value: Text,
}

/// The state of one step in a step list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepState {
    /// Not started yet.
    Pending,
    /// Running now.
    Running,
    /// Waiting for an approval.
    WaitingForApproval,
    /// Finished successfully.
    Done,
    /// Failed.
    Failed,
    /// Cancelled or skipped.
    Skipped,
}

/// One line of a step list. Names and notes come from the backend (a
/// document's author, AWS's messages): surfaces render them inert.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepLine {
    /// The step's name.
    pub name: String,
    /// Its state.
    pub state: StepState,
    /// A short note, e.g. the failure message.
    pub note: Option<String>,
}

/// What a button does when clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ButtonAction {
    /// Approve the deployment.
    Approve,
    /// Reject the deployment.
    Reject,
}

impl ButtonAction {
    /// A stable identifier for the wire (e.g. Slack's `action_id`).
    pub fn id(self) -> &'static str {
        match self {
            Self::Approve => "chatdeploy_approve",
            Self::Reject => "chatdeploy_reject",
        }
    }

    /// The action for a wire identifier produced by [`ButtonAction::id`].
    pub fn from_id(id: &str) -> Option<Self> {
        match id {
            "chatdeploy_approve" => Some(Self::Approve),
            "chatdeploy_reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

/// How prominent a button is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    /// The surface's default look.
    #[default]
    Default,
    /// The main, positive action.
    Primary,
    /// A destructive action.
    Danger,
}

/// A confirmation dialog shown before a button's action is sent; its
/// strings are shown as plain text, never as markup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Confirm {
    /// The dialog's title.
    pub title: String,
    /// The question.
    pub text: String,
    /// The confirming button's label.
    pub confirm: String,
    /// The dismissing button's label.
    pub deny: String,
}

/// A button that acts on a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Button {
    /// What the click does.
    pub action: ButtonAction,
    /// The deployment it acts on (carried as the button's value).
    pub deployment: DeploymentId,
    /// The label.
    pub label: String,
    /// The style.
    pub style: ButtonStyle,
    /// An optional confirmation dialog.
    pub confirm: Option<Confirm>,
}

/// A link to the record: release notes, the execution, the ticket. The
/// label is shown as text, never as markup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The label.
    pub label: String,
    /// The URL.
    pub url: String,
}

/// A message as the engine means it; each surface renders it its own way and
/// always keeps [`Message::text`] as the plain-text fallback.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Message {
    /// The headline, complete on its own (notifications and fallbacks show
    /// only this).
    pub text: Text,
    /// The mood.
    pub tone: Tone,
    /// Labelled values.
    pub fields: Vec<Field>,
    /// A step list.
    pub steps: Vec<StepLine>,
    /// Longer text, e.g. a failure message or a help listing, one item a
    /// line; surfaces may cut it to their limits.
    pub detail: Option<Text>,
    /// Buttons.
    pub buttons: Vec<Button>,
    /// Links.
    pub links: Vec<Link>,
}

impl Message {
    /// A message with just a headline.
    pub fn text(text: impl Into<Text>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Sets the tone.
    #[must_use]
    pub fn with_tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }

    /// Adds a labelled value.
    #[must_use]
    pub fn with_field(mut self, label: impl Into<String>, value: impl Into<Text>) -> Self {
        self.fields.push(Field {
            label: label.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a step line.
    #[must_use]
    pub fn with_step(mut self, name: impl Into<String>, state: StepState) -> Self {
        self.steps.push(StepLine {
            name: name.into(),
            state,
            note: None,
        });
        self
    }

    /// Sets the longer text.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<Text>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a button.
    #[must_use]
    pub fn with_button(mut self, button: Button) -> Self {
        self.buttons.push(button);
        self
    }

    /// Adds a link.
    #[must_use]
    pub fn with_link(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    /// A 64-bit fingerprint of the whole message, to tell whether a message
    /// changed without keeping a copy of it.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// The whole message as plain text, one item a line, without markup:
    /// what a terminal shows and what tests compare.
    pub fn to_plain_text(&self) -> String {
        let mut out = self.text.to_string();
        for field in &self.fields {
            out.push_str(&format!("\n  {}: {}", field.label, field.value));
        }
        for step in &self.steps {
            let mark = match step.state {
                StepState::Pending => "[ ]",
                StepState::Running => "[~]",
                StepState::WaitingForApproval => "[?]",
                StepState::Done => "[x]",
                StepState::Failed => "[!]",
                StepState::Skipped => "[-]",
            };
            out.push_str(&format!("\n  {mark} {}", step.name));
            if let Some(note) = &step.note {
                out.push_str(&format!(" ({note})"));
            }
        }
        if let Some(detail) = &self.detail {
            for line in detail.to_string().lines() {
                out.push_str(&format!("\n  {line}"));
            }
        }
        if !self.buttons.is_empty() {
            let labels: Vec<String> = self
                .buttons
                .iter()
                .map(|b| format!("[{}]", b.label))
                .collect();
            out.push_str(&format!("\n  {}", labels.join(" ")));
        }
        for link in &self.links {
            out.push_str(&format!("\n  {}: {}", link.label, link.url));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_lists_every_part() {
        let message = Message::text("Deploying app r-99.1.0")
            .with_tone(Tone::Progress)
            .with_field("Requested by", Text::new().user("U01".into()))
            .with_step("UpdateParameter", StepState::Done)
            .with_step("Approve", StepState::WaitingForApproval)
            .with_button(Button {
                action: ButtonAction::Approve,
                deployment: DeploymentId::new("d-1"),
                label: "Approve".into(),
                style: ButtonStyle::Primary,
                confirm: None,
            })
            .with_link("Release", "https://example.com/r-99.1.0");
        assert_eq!(
            message.to_plain_text(),
            "Deploying app r-99.1.0\n  Requested by: @U01\n  [x] UpdateParameter\n  \
             [?] Approve\n  [Approve]\n  Release: https://example.com/r-99.1.0"
        );
    }

    #[test]
    fn button_ids_round_trip() {
        for action in [ButtonAction::Approve, ButtonAction::Reject] {
            assert_eq!(ButtonAction::from_id(action.id()), Some(action));
        }
        assert_eq!(ButtonAction::from_id("other"), None);
    }
}
