//! The fake Web API as the chat contract's observer: what a channel shows,
//! as Slack keeps it.

use async_trait::async_trait;
use chatdeploy_core::chat::contract::{ChatObserver, ShownMessage};
use chatdeploy_core::ids::{ChannelId, GroupId, MessageId, UserId};

use super::FakeSlackApi;

/// Shows a channel's messages (ephemeral ones included) with their
/// fallback `text` as plain text, and declares user groups for
/// `usergroups.users.list`.
#[async_trait]
impl ChatObserver for FakeSlackApi {
    async fn shown(&self, channel: &ChannelId) -> Vec<ShownMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channel == channel.as_str())
            .map(|m| ShownMessage {
                id: Some(MessageId::new(m.ts)),
                thread: m.thread_ts.map(MessageId::new),
                text: unescape(&m.text),
                ephemeral_to: m.ephemeral_to.map(UserId::new),
            })
            .collect()
    }

    async fn set_group(&self, group: &GroupId, members: &[UserId]) {
        let members: Vec<&str> = members.iter().map(UserId::as_str).collect();
        FakeSlackApi::set_group(self, group.as_str(), &members);
    }
}

/// Undoes Slack's escaping of `&`, `<` and `>` in one pass (mentions and
/// links keep Slack's `<…>` form).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
            .into_iter()
            .find(|(name, _)| rest.starts_with(name));
        match entity {
            Some((name, c)) => {
                out.push(c);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(unescape("a &lt;b&gt; &amp; c"), "a <b> & c");
        assert_eq!(unescape("&amp;lt; &x &"), "&lt; &x &");
    }
}
