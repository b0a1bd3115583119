//! The behaviour every [`ChatSurface`] must have, as reusable checks: run
//! [`run_all`] against a new surface, with a [`ChatObserver`] that sees
//! what its conversations show (the surface's own records, or the chat
//! service's fake).
//!
//! Each check marks its messages with a fresh nonce and looks only at
//! those, so the surface need not start empty. The IDs it uses
//! ([`CHANNEL`], [`USER`], [`OTHER_USER`], [`GROUP`]) are opaque to core
//! and valid for every surface in the workspace (they have Slack's shapes).
//!
//! The checks panic on the first violation (they are test code).
//!
//! [`NullChatSurface`](super::NullChatSurface) is outside this contract: it
//! keeps nothing to observe, and every user group is empty rather than an
//! error (which authorises nobody, so it still fails closed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    ChatError, ChatSurface, Conversation, Message, PostedMessage, RecordedCall,
    RecordingChatSurface, Text,
};
use crate::ids::{ChannelId, GroupId, MessageId, UserId};

/// The channel the checks post into.
pub const CHANNEL: &str = "C0CONTRACT";
/// The user ephemeral messages go to, and a group member.
pub const USER: &str = "U0CONTRACTA";
/// Another user: a group member who must not see the ephemeral message.
pub const OTHER_USER: &str = "U0CONTRACTB";
/// The user group the checks declare.
pub const GROUP: &str = "S0CONTRACT";

/// One message as a conversation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownMessage {
    /// Its ID, when it has one the surface could update.
    pub id: Option<MessageId>,
    /// The thread it is in; `None` at the top level.
    pub thread: Option<MessageId>,
    /// Its headline as plain text, the surface's markup and escaping
    /// undone.
    pub text: String,
    /// For an ephemeral message, the one user who sees it.
    pub ephemeral_to: Option<UserId>,
}

/// What the checks need beside the surface: what a channel shows, and a way
/// to declare a user group.
#[async_trait]
pub trait ChatObserver: Send + Sync {
    /// Every message `channel` shows, ephemeral ones included, in posting
    /// order, each in its latest version.
    async fn shown(&self, channel: &ChannelId) -> Vec<ShownMessage>;

    /// Makes `group` a user group with exactly `members`.
    async fn set_group(&self, group: &GroupId, members: &[UserId]);
}

/// The recording surface observes itself: its posts with their current
/// content, and its ephemeral messages.
#[async_trait]
impl ChatObserver for RecordingChatSurface {
    async fn shown(&self, channel: &ChannelId) -> Vec<ShownMessage> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                RecordedCall::Post { to, posted, .. } if to.channel == *channel => {
                    let current = self.message(&posted)?;
                    Some(ShownMessage {
                        id: Some(posted.id),
                        thread: to.thread,
                        text: current.text.to_string(),
                        ephemeral_to: None,
                    })
                }
                RecordedCall::Ephemeral { to, user, message } if to.channel == *channel => {
                    Some(ShownMessage {
                        id: None,
                        thread: to.thread,
                        text: message.text.to_string(),
                        ephemeral_to: Some(user),
                    })
                }
                _ => None,
            })
            .collect()
    }

    async fn set_group(&self, group: &GroupId, members: &[UserId]) {
        RecordingChatSurface::set_group(self, group.clone(), members.iter().cloned());
    }
}

/// Runs every check below against `chat`, observed by `observer`.
pub async fn run_all<C, O>(chat: &C, observer: &O)
where
    C: ChatSurface + ?Sized,
    O: ChatObserver + ?Sized,
{
    a_post_is_shown_where_it_was_sent(chat, observer).await;
    an_update_replaces_the_message_in_place(chat, observer).await;
    updating_an_unknown_message_is_message_not_found(chat).await;
    an_ephemeral_message_reaches_only_its_user(chat, observer).await;
    group_members_are_resolved(chat, observer).await;
}

/// A fresh nonce, so a check finds its own messages.
fn nonce() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The headline for a check's message: plain text with the characters
/// chat markup escapes.
fn headline(nonce: &str, what: &str) -> String {
    format!("contract {nonce} <{what}> & done")
}

/// The messages of `channel` that carry `nonce`.
async fn shown_with<O: ChatObserver + ?Sized>(observer: &O, nonce: &str) -> Vec<ShownMessage> {
    observer
        .shown(&ChannelId::new(CHANNEL))
        .await
        .into_iter()
        .filter(|m| m.text.contains(nonce))
        .collect()
}

/// `post` returns a handle in the conversation's channel, and the message
/// is shown there with that ID, in its thread, to everyone.
pub async fn a_post_is_shown_where_it_was_sent<C, O>(chat: &C, observer: &O)
where
    C: ChatSurface + ?Sized,
    O: ChatObserver + ?Sized,
{
    let nonce = nonce();
    let top = Conversation::channel(CHANNEL);
    let root_text = headline(&nonce, "root");
    let root = chat
        .post(&top, &Message::text(Text::plain(&root_text)))
        .await
        .expect("post at the top level");
    assert_eq!(root.channel, top.channel, "the handle names the channel");
    let thread = top.clone().in_thread(root.id.clone());
    let reply_text = headline(&nonce, "reply");
    let reply = chat
        .post(&thread, &Message::text(Text::plain(&reply_text)))
        .await
        .expect("post in a thread");
    assert_ne!(reply.id, root.id, "each post is a message of its own");
    let shown = shown_with(observer, &nonce).await;
    let expected = [
        ShownMessage {
            id: Some(root.id.clone()),
            thread: None,
            text: root_text,
            ephemeral_to: None,
        },
        ShownMessage {
            id: Some(reply.id),
            thread: Some(root.id),
            text: reply_text,
            ephemeral_to: None,
        },
    ];
    assert_eq!(shown, expected, "the channel shows both posts, in order");
}

/// `update` replaces the posted message's content in place: the same ID,
/// no new message, the old text gone.
pub async fn an_update_replaces_the_message_in_place<C, O>(chat: &C, observer: &O)
where
    C: ChatSurface + ?Sized,
    O: ChatObserver + ?Sized,
{
    let nonce = nonce();
    let to = Conversation::channel(CHANNEL).in_thread("1700000000.000001");
    let posted = chat
        .post(&to, &Message::text(Text::plain(headline(&nonce, "before"))))
        .await
        .expect("post");
    let after = headline(&nonce, "after");
    chat.update(&posted, &Message::text(Text::plain(&after)))
        .await
        .expect("update a posted message");
    let shown = shown_with(observer, &nonce).await;
    let expected = [ShownMessage {
        id: Some(posted.id),
        thread: to.thread,
        text: after,
        ephemeral_to: None,
    }];
    assert_eq!(shown, expected, "one message, updated in place");
}

/// Updating a message that was never posted is
/// [`ChatError::MessageNotFound`].
pub async fn updating_an_unknown_message_is_message_not_found<C: ChatSurface + ?Sized>(chat: &C) {
    let unknown = PostedMessage {
        channel: ChannelId::new(CHANNEL),
        id: MessageId::new("1600000000.999999"),
    };
    match chat.update(&unknown, &Message::text("never posted")).await {
        Err(ChatError::MessageNotFound { .. }) => {}
        result => panic!("updating an unknown message must be MessageNotFound, got {result:?}"),
    }
}

/// `post_ephemeral` shows the message to that user only, in the
/// conversation's thread.
pub async fn an_ephemeral_message_reaches_only_its_user<C, O>(chat: &C, observer: &O)
where
    C: ChatSurface + ?Sized,
    O: ChatObserver + ?Sized,
{
    let nonce = nonce();
    let to = Conversation::channel(CHANNEL).in_thread("1700000000.000002");
    let text = headline(&nonce, "only for you");
    chat.post_ephemeral(&to, &UserId::new(USER), &Message::text(Text::plain(&text)))
        .await
        .expect("post an ephemeral message");
    let shown = shown_with(observer, &nonce).await;
    assert_eq!(shown.len(), 1, "one message, to one user: {shown:?}");
    assert_eq!(shown[0].ephemeral_to, Some(UserId::new(USER)), "{shown:?}");
    assert_eq!(shown[0].thread, to.thread, "{shown:?}");
    assert_eq!(shown[0].text, text, "{shown:?}");
}

/// `group_members` returns a group's members; an unknown group is an error
/// (callers then authorise nobody).
pub async fn group_members_are_resolved<C, O>(chat: &C, observer: &O)
where
    C: ChatSurface + ?Sized,
    O: ChatObserver + ?Sized,
{
    let members = [UserId::new(USER), UserId::new(OTHER_USER)];
    observer.set_group(&GroupId::new(GROUP), &members).await;
    let mut resolved = chat
        .group_members(&GroupId::new(GROUP))
        .await
        .expect("the members of a known group");
    resolved.sort();
    assert_eq!(resolved, members, "the group's members");
    let unknown = GroupId::new(format!("S0NONE{}", nonce().to_uppercase()));
    let result = chat.group_members(&unknown).await;
    assert!(
        result.is_err(),
        "an unknown group must be an error, got {result:?}"
    );
}
