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

/// `1700000000.{n:06}`, Slack's `ts` shape, without the formatting
/// machinery (this surface stands in for "no cost" in benchmarks).
fn message_id(n: u64) -> MessageId {
    const PREFIX: &[u8] = b"1700000000.";
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = &digits[at.min(digits.len() - 6)..];
    let mut id = [0u8; PREFIX.len() + 20];
    id[..PREFIX.len()].copy_from_slice(PREFIX);
    id[PREFIX.len()..PREFIX.len() + digits.len()].copy_from_slice(digits);
    // ASCII only, so always valid UTF-8.
    MessageId::new(std::str::from_utf8(&id[..PREFIX.len() + digits.len()]).unwrap_or_default())
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
            id: message_id(n),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_increase() {
        assert_eq!(message_id(0).as_str(), "1700000000.000000");
        assert_eq!(message_id(42).as_str(), "1700000000.000042");
        assert_eq!(message_id(1_234_567).as_str(), "1700000000.1234567");
        assert_eq!(
            message_id(u64::MAX).as_str(),
            format!("1700000000.{}", u64::MAX)
        );
    }
}
