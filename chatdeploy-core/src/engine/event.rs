//! What the engine receives from a chat surface.

use serde::{Deserialize, Serialize};

use crate::chat::{ButtonAction, Conversation};
use crate::ids::{ChannelId, DeploymentId, EventId, MessageId, UserId};

/// One inbound chat event, already translated from the surface's wire
/// format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEvent {
    /// The event's ID, used to drop redeliveries (Slack: `event_id`, or the
    /// action's `trigger_id`/`action_ts`).
    pub id: EventId,
    /// Who sent it (immutable user ID).
    pub user: UserId,
    /// Where.
    pub channel: ChannelId,
    /// The thread it was sent in, if any.
    pub thread: Option<MessageId>,
    /// The message itself, if it is one (a top-level command's message
    /// becomes the root of the release's thread).
    pub message: Option<MessageId>,
    /// What it is.
    pub kind: ChatEventKind,
}

/// What a [`ChatEvent`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChatEventKind {
    /// A command text (a mention, a direct message or a slash command),
    /// as plain text: the surface has already undone its own escaping.
    Command {
        /// The text.
        text: String,
    },
    /// A click on one of the bot's buttons.
    Button {
        /// Which button.
        action: ButtonAction,
        /// The release it acts on.
        deployment: DeploymentId,
    },
}

impl ChatEvent {
    /// A command typed by `user` in `channel`.
    pub fn command(
        id: impl Into<EventId>,
        user: impl Into<UserId>,
        channel: impl Into<ChannelId>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            user: user.into(),
            channel: channel.into(),
            thread: None,
            message: None,
            kind: ChatEventKind::Command { text: text.into() },
        }
    }

    /// A button click by `user` in `channel`.
    pub fn button(
        id: impl Into<EventId>,
        user: impl Into<UserId>,
        channel: impl Into<ChannelId>,
        action: ButtonAction,
        deployment: impl Into<DeploymentId>,
    ) -> Self {
        Self {
            id: id.into(),
            user: user.into(),
            channel: channel.into(),
            thread: None,
            message: None,
            kind: ChatEventKind::Button {
                action,
                deployment: deployment.into(),
            },
        }
    }

    /// Sets the message ID.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<MessageId>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the thread.
    #[must_use]
    pub fn in_thread(mut self, thread: impl Into<MessageId>) -> Self {
        self.thread = Some(thread.into());
        self
    }

    /// Where replies to this event go: its thread, or a new thread under
    /// the message itself.
    pub fn reply_to(&self) -> Conversation {
        Conversation {
            channel: self.channel.clone(),
            thread: self.thread.clone().or_else(|| self.message.clone()),
        }
    }
}

/// What the engine did with an event (for adapters' logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// A redelivery of an event already handled: dropped.
    Duplicate,
    /// A read-only command was answered.
    Answered,
    /// A mutating command or click was carried out (or recorded).
    Accepted,
    /// The event was refused; the person was told why.
    Refused,
    /// A release was started (or is waiting for approval before its start).
    Released(DeploymentId),
}
