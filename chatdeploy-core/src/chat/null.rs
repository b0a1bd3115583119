//! A chat surface that delivers nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{ChatError, ChatSurface, Conversation, Message, PostedMessage};
use crate::ids::{GroupId, MessageId, UserId};

/// A [`ChatSurface`] that accepts every message and keeps none: for
/// benchmarks and headless runs, where the engine's work matters and the
/// chat transport does not. User groups have no members.
#[derive(Debug, Default)]
pub struct NullChatSurface {
    next_id: AtomicU64,
}

impl NullChatSurface {
    /// A surface that drops everything.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ChatSurface for NullChatSurface {
    async fn post(
        &self,
        to: &Conversation,
        _message: &Message,
    ) -> Result<PostedMessage, ChatError> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(PostedMessage {
            channel: to.channel.clone(),
            id: MessageId::new(format!("1700000000.{n:06}")),
        })
    }

    async fn update(&self, _posted: &PostedMessage, _message: &Message) -> Result<(), ChatError> {
        Ok(())
    }

    async fn post_ephemeral(
        &self,
        _to: &Conversation,
        _user: &UserId,
        _message: &Message,
    ) -> Result<(), ChatError> {
        Ok(())
    }

    async fn group_members(&self, _group: &GroupId) -> Result<Vec<UserId>, ChatError> {
        Ok(Vec::new())
    }
}
