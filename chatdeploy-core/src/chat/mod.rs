//! The [`ChatSurface`] trait: where the bot talks, and the transport-neutral
//! [`Message`] it posts.
//!
//! A surface (Slack, a terminal, a test recorder) renders a [`Message`] in its
//! own format: Block Kit for Slack, plain lines for a terminal.

#[cfg(any(test, feature = "fake"))]
pub mod contract;
mod identity;
mod inbound;
mod message;
mod null;
mod recording;
mod text;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::ids::{ChannelId, GroupId, MessageId, UserId};

pub use identity::{IdentityRules, OpaqueIdentities};
#[cfg(any(test, feature = "test-util"))]
pub use inbound::MockEventHandler;
pub use inbound::{ChatEvent, ChatEventKind, EventHandler, Handled};
pub use message::{
    Button, ButtonAction, ButtonStyle, Confirm, Field, Link, Message, StepLine, StepState, Tone,
};
pub use null::NullChatSurface;
pub use recording::{RecordedCall, RecordingChatSurface};
pub use text::{Span, Text};

/// Where a message goes: a channel, and optionally the thread inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Conversation {
    /// The channel (or direct-message conversation).
    pub channel: ChannelId,
    /// The thread's root message; `None` posts at the top level.
    pub thread: Option<MessageId>,
}

impl Conversation {
    /// A conversation at the top level of `channel`.
    pub fn channel(channel: impl Into<ChannelId>) -> Self {
        Self {
            channel: channel.into(),
            thread: None,
        }
    }

    /// The same channel, inside the thread rooted at `root`.
    #[must_use]
    pub fn in_thread(mut self, root: impl Into<MessageId>) -> Self {
        self.thread = Some(root.into());
        self
    }
}

/// A message the surface posted, so it can be updated in place later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PostedMessage {
    /// The channel the message is in.
    pub channel: ChannelId,
    /// The message's ID (Slack: its `ts`).
    pub id: MessageId,
}

/// Why a chat call failed.
///
/// `Display` is the detail for the log; [`ChatError::hint`] is what an
/// operator should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The chat service asked us to slow down.
    #[error("rate limited by the chat service (retry after {retry_after:?})")]
    RateLimited {
        /// How long the service asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The bot is not a member of the channel.
    #[error("the bot is not in channel {channel}")]
    NotInChannel {
        /// The channel.
        channel: ChannelId,
    },
    /// The channel does not exist or the bot cannot see it.
    #[error("channel {channel} was not found")]
    ChannelNotFound {
        /// The channel.
        channel: ChannelId,
    },
    /// The message to update does not exist (any more).
    #[error("message {message} in {channel} was not found")]
    MessageNotFound {
        /// The channel.
        channel: ChannelId,
        /// The message.
        message: MessageId,
    },
    /// The service refused the call with an error code.
    #[error("the chat service refused {operation}: {code}")]
    Refused {
        /// The API operation, e.g. `chat.postMessage`.
        operation: String,
        /// The service's error code, e.g. `invalid_auth`.
        code: String,
    },
    /// The call did not reach the service or its answer was unreadable.
    #[error("chat transport error during {operation}")]
    Transport {
        /// The API operation.
        operation: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ChatError {
    /// Whether the same call may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transport { .. })
    }

    /// What an operator should do about it, in one sentence.
    pub fn hint(&self) -> String {
        match self {
            Self::RateLimited { .. } => {
                "The chat service is rate limiting the bot; messages will be retried.".to_owned()
            }
            Self::NotInChannel { channel } => {
                format!("Add the bot to channel {channel}, then try again.")
            }
            Self::ChannelNotFound { channel } => format!(
                "Check the channel ID {channel} in the configuration and that the bot can see it."
            ),
            Self::MessageNotFound { .. } => {
                "The message was deleted; a new one will be posted.".to_owned()
            }
            Self::Refused { code, .. } => {
                format!("The chat service said `{code}`; check the bot's token and scopes.")
            }
            Self::Transport { .. } => {
                "The chat service could not be reached; messages will be retried.".to_owned()
            }
        }
    }
}

/// A chat service the bot posts to.
///
/// Implementations translate [`Message`] into their wire format and keep
/// their own rate limits; they make no decisions.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ChatSurface: Send + Sync {
    /// Posts `message` into `to` and returns a handle to update it later.
    ///
    /// # Errors
    ///
    /// [`ChatError`] when the service refuses the message or cannot be
    /// reached; [`ChatError::is_retryable`] says whether to try again.
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError>;

    /// Replaces a posted message in place.
    ///
    /// # Errors
    ///
    /// [`ChatError::MessageNotFound`] when the message is gone, and the
    /// errors of [`ChatSurface::post`].
    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError>;

    /// Shows `message` to `user` only, in `to`.
    ///
    /// # Errors
    ///
    /// The errors of [`ChatSurface::post`].
    async fn post_ephemeral(
        &self,
        to: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError>;

    /// The members of a user group.
    ///
    /// # Errors
    ///
    /// [`ChatError`] when the group cannot be read; callers fail closed
    /// (nobody in an unreadable group is authorised).
    async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError>;
}

macro_rules! forward_chat_surface {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: ChatSurface + ?Sized> ChatSurface for $ptr {
            async fn post(
                &self,
                to: &Conversation,
                message: &Message,
            ) -> Result<PostedMessage, ChatError> {
                (**self).post(to, message).await
            }
            async fn update(
                &self,
                posted: &PostedMessage,
                message: &Message,
            ) -> Result<(), ChatError> {
                (**self).update(posted, message).await
            }
            async fn post_ephemeral(
                &self,
                to: &Conversation,
                user: &UserId,
                message: &Message,
            ) -> Result<(), ChatError> {
                (**self).post_ephemeral(to, user, message).await
            }
            async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError> {
                (**self).group_members(group).await
            }
        }
    };
}
forward_chat_surface!(Arc<T>);
forward_chat_surface!(Box<T>);
