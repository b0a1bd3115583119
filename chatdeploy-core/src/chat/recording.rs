//! A chat surface that keeps everything in memory, for tests and demos.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{ChatError, ChatSurface, Conversation, Message, PostedMessage};
use crate::ids::{GroupId, MessageId, UserId};

/// One successful call made to a [`RecordingChatSurface`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordedCall {
    /// [`ChatSurface::post`].
    Post {
        /// Where.
        to: Conversation,
        /// What.
        message: Message,
        /// The handle returned.
        posted: PostedMessage,
    },
    /// [`ChatSurface::update`].
    Update {
        /// Which message.
        posted: PostedMessage,
        /// The new content.
        message: Message,
    },
    /// [`ChatSurface::post_ephemeral`].
    Ephemeral {
        /// Where.
        to: Conversation,
        /// To whom.
        user: UserId,
        /// What.
        message: Message,
    },
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<RecordedCall>,
    /// Current content of every posted message, by (channel, id).
    current: BTreeMap<(String, MessageId), (Conversation, Message)>,
    next_id: u64,
    groups: HashMap<GroupId, Vec<UserId>>,
    #[cfg(any(test, feature = "fake"))]
    faults: Faults,
}

/// Injected failures (feature `fake`).
#[cfg(any(test, feature = "fake"))]
#[derive(Debug, Default)]
struct Faults {
    fail_next: usize,
    unavailable: bool,
    failed: usize,
}

/// A [`ChatSurface`] that records every call and keeps the current content
/// of every message; with feature `fake`, calls can be made to fail.
///
/// Message IDs look like Slack timestamps (`1700000000.000001`, increasing).
#[derive(Debug, Default)]
pub struct RecordingChatSurface {
    inner: Mutex<Inner>,
}

impl RecordingChatSurface {
    /// An empty surface that accepts every call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the members of a user group.
    #[must_use]
    pub fn with_group(self, group: impl Into<GroupId>, members: &[&str]) -> Self {
        self.set_group(group, members.iter().map(|m| UserId::new(*m)));
        self
    }

    /// Sets (or replaces) the members of a user group.
    pub fn set_group(&self, group: impl Into<GroupId>, members: impl IntoIterator<Item = UserId>) {
        self.lock()
            .groups
            .insert(group.into(), members.into_iter().collect());
    }

    /// Makes the next `n` calls fail with [`ChatError::RateLimited`]
    /// (feature `fake`).
    #[cfg(any(test, feature = "fake"))]
    pub fn fail_next(&self, n: usize) {
        self.lock().faults.fail_next = n;
    }

    /// While `true`, every call fails with [`ChatError::Transport`]
    /// (feature `fake`).
    #[cfg(any(test, feature = "fake"))]
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().faults.unavailable = unavailable;
    }

    /// Every successful call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// How many calls failed by injection (feature `fake`).
    #[cfg(any(test, feature = "fake"))]
    pub fn failed_calls(&self) -> usize {
        self.lock().faults.failed
    }

    /// The current content of a posted message.
    pub fn message(&self, posted: &PostedMessage) -> Option<Message> {
        self.lock()
            .current
            .get(&(posted.channel.as_str().to_owned(), posted.id.clone()))
            .map(|(_, m)| m.clone())
    }

    /// The current content of every message posted into `conversation`, in
    /// posting order (updates applied).
    pub fn messages_in(&self, conversation: &Conversation) -> Vec<Message> {
        self.lock()
            .current
            .values()
            .filter(|(to, _)| to == conversation)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The ephemeral messages shown to `user`, in order.
    pub fn ephemerals_for(&self, user: &UserId) -> Vec<Message> {
        self.lock()
            .calls
            .iter()
            .filter_map(|call| match call {
                RecordedCall::Ephemeral {
                    user: u, message, ..
                } if u == user => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a test panicked mid-call; the data is
        // still consistent enough to inspect.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(any(test, feature = "fake"))]
impl Inner {
    /// The failure injected into a message call, if any (counted).
    fn injected_failure(&mut self, operation: &str) -> Result<(), ChatError> {
        let faults = &mut self.faults;
        if faults.unavailable {
            faults.failed += 1;
            return Err(unavailable(operation));
        }
        if faults.fail_next > 0 {
            faults.fail_next -= 1;
            faults.failed += 1;
            return Err(ChatError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    /// The outage injected into a group lookup, if any (not counted).
    fn injected_outage(&self, operation: &str) -> Result<(), ChatError> {
        if self.faults.unavailable {
            return Err(unavailable(operation));
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "fake"))]
fn unavailable(operation: &str) -> ChatError {
    ChatError::Transport {
        operation: operation.to_owned(),
        source: "chat surface set unavailable".into(),
    }
}

/// Without feature `fake` nothing is ever injected.
#[cfg(not(any(test, feature = "fake")))]
#[allow(clippy::unnecessary_wraps, clippy::unused_self)]
impl Inner {
    fn injected_failure(&mut self, _operation: &str) -> Result<(), ChatError> {
        Ok(())
    }

    fn injected_outage(&self, _operation: &str) -> Result<(), ChatError> {
        Ok(())
    }
}

#[async_trait]
impl ChatSurface for RecordingChatSurface {
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError> {
        let mut inner = self.lock();
        inner.injected_failure("post")?;
        inner.next_id += 1;
        let posted = PostedMessage {
            channel: to.channel.clone(),
            id: MessageId::new(format!("1700000000.{:06}", inner.next_id)),
        };
        inner.current.insert(
            (to.channel.as_str().to_owned(), posted.id.clone()),
            (to.clone(), message.clone()),
        );
        inner.calls.push(RecordedCall::Post {
            to: to.clone(),
            message: message.clone(),
            posted: posted.clone(),
        });
        Ok(posted)
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError> {
        let mut inner = self.lock();
        inner.injected_failure("update")?;
        let key = (posted.channel.as_str().to_owned(), posted.id.clone());
        let Some(entry) = inner.current.get_mut(&key) else {
            return Err(ChatError::MessageNotFound {
                channel: posted.channel.clone(),
                message: posted.id.clone(),
            });
        };
        entry.1 = message.clone();
        inner.calls.push(RecordedCall::Update {
            posted: posted.clone(),
            message: message.clone(),
        });
        Ok(())
    }

    async fn post_ephemeral(
        &self,
        to: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError> {
        let mut inner = self.lock();
        inner.injected_failure("post_ephemeral")?;
        inner.calls.push(RecordedCall::Ephemeral {
            to: to.clone(),
            user: user.clone(),
            message: message.clone(),
        });
        Ok(())
    }

    async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError> {
        let inner = self.lock();
        inner.injected_outage("group_members")?;
        inner
            .groups
            .get(group)
            .cloned()
            .ok_or_else(|| ChatError::Refused {
                operation: "group_members".into(),
                code: "no_such_subteam".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_posts_and_applies_updates() {
        let chat = RecordingChatSurface::new();
        let thread = Conversation::channel("C1").in_thread("1.0");
        let posted = chat.post(&thread, &Message::text("one")).await.unwrap();
        chat.update(&posted, &Message::text("two")).await.unwrap();
        assert_eq!(chat.message(&posted), Some(Message::text("two")));
        assert_eq!(chat.messages_in(&thread), vec![Message::text("two")]);
        assert_eq!(chat.calls().len(), 2);
    }

    #[tokio::test]
    async fn injected_failures_are_counted_and_then_stop() {
        let chat = RecordingChatSurface::new();
        chat.fail_next(1);
        let to = Conversation::channel("C1");
        let err = chat.post(&to, &Message::text("x")).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(chat.post(&to, &Message::text("x")).await.is_ok());
        assert_eq!(chat.failed_calls(), 1);
    }

    #[tokio::test]
    async fn updating_an_unknown_message_is_an_error() {
        let chat = RecordingChatSurface::new();
        let posted = PostedMessage {
            channel: "C1".into(),
            id: "9.9".into(),
        };
        let err = chat.update(&posted, &Message::text("x")).await.unwrap_err();
        assert!(matches!(err, ChatError::MessageNotFound { .. }));
    }

    #[tokio::test]
    async fn unknown_groups_fail_closed() {
        let chat = RecordingChatSurface::new().with_group("S1", &["U1", "U2"]);
        assert_eq!(
            chat.group_members(&"S1".into()).await.unwrap(),
            vec![UserId::new("U1"), UserId::new("U2")]
        );
        assert!(chat.group_members(&"S2".into()).await.is_err());
    }
}
