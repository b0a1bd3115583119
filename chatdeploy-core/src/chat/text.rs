//! [`Text`]: what the bot says, as structured parts a surface renders in
//! its own format, so that core holds no chat markup and text a person (or
//! a backend) supplied can never turn into a mention, a link or formatting.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, GroupId, UserId};

/// One part of a [`Text`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Span {
    /// Text chatdeploy wrote; never markup (a surface escapes it).
    Plain(String),
    /// Text chatdeploy wrote, emphasised (bold in Slack).
    Emphasis(String),
    /// A command, an ID or a value to type (monospace in Slack).
    Code(String),
    /// A mention of a user, by ID.
    User(UserId),
    /// A mention of a user group, by ID.
    Group(GroupId),
    /// A reference to a channel, by ID.
    Channel(ChannelId),
    /// A link with a label.
    Link {
        /// What the person reads.
        label: String,
        /// Where it goes.
        url: String,
    },
    /// Text a person or a backend supplied (a reason, a ticket, a comment,
    /// an AWS message): every surface renders it inert, exactly as given.
    UserText(String),
}

/// A run of [`Span`]s: a headline, a field's value, a detail.
///
/// ```
/// use chatdeploy_core::UserId;
/// use chatdeploy_core::chat::Text;
///
/// let text = Text::plain("Locked by ")
///     .user(UserId::new("U0BOB"))
///     .and(": ")
///     .user_text("*freeze* until Friday");
/// assert_eq!(text.to_string(), "Locked by @U0BOB: *freeze* until Friday");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text {
    spans: Vec<Span>,
}

impl Text {
    /// An empty text.
    pub fn new() -> Self {
        Self::default()
    }

    /// A text starting with plain text.
    pub fn plain(text: impl Into<String>) -> Self {
        Self::new().and(text)
    }

    /// A text of supplied text only.
    pub fn from_user(text: impl Into<String>) -> Self {
        Self::new().user_text(text)
    }

    /// Appends plain text (merged with a plain span before it).
    #[must_use]
    pub fn and(mut self, text: impl Into<String>) -> Self {
        self.push_plain(&text.into());
        self
    }

    /// Appends emphasised text.
    #[must_use]
    pub fn emphasis(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Emphasis(text.into()));
        self
    }

    /// Appends code.
    #[must_use]
    pub fn code(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Code(text.into()));
        self
    }

    /// Appends a user mention.
    #[must_use]
    pub fn user(mut self, user: UserId) -> Self {
        self.spans.push(Span::User(user));
        self
    }

    /// Appends a user-group mention.
    #[must_use]
    pub fn group(mut self, group: GroupId) -> Self {
        self.spans.push(Span::Group(group));
        self
    }

    /// Appends a channel reference.
    #[must_use]
    pub fn channel(mut self, channel: ChannelId) -> Self {
        self.spans.push(Span::Channel(channel));
        self
    }

    /// Appends a link.
    #[must_use]
    pub fn link(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.spans.push(Span::Link {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    /// Appends supplied text, rendered inert.
    #[must_use]
    pub fn user_text(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::UserText(text.into()));
        self
    }

    /// Appends another text.
    #[must_use]
    pub fn then(mut self, other: Text) -> Self {
        for span in other.spans {
            match span {
                Span::Plain(text) => self.push_plain(&text),
                other => self.spans.push(other),
            }
        }
        self
    }

    /// Appends `items`, separated by `separator` (plain).
    #[must_use]
    pub fn join(mut self, items: impl IntoIterator<Item = Text>, separator: &str) -> Self {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push_plain(separator);
            }
            self = self.then(item);
        }
        self
    }

    fn push_plain(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Span::Plain(last)) = self.spans.last_mut() {
            last.push_str(text);
        } else {
            self.spans.push(Span::Plain(text.to_owned()));
        }
    }

    /// The parts.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.spans.iter().all(|span| match span {
            Span::Plain(t) | Span::Emphasis(t) | Span::Code(t) | Span::UserText(t) => t.is_empty(),
            _ => false,
        })
    }

    /// Whether the plain rendering contains `needle` (for tests and logs).
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}

/// The neutral plain rendering of one span, without markup: a mention as
/// `@ID`, a channel as `#ID`, a link as `label (url)`, code in backticks.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(t) | Self::Emphasis(t) | Self::UserText(t) => f.write_str(t),
            Self::Code(t) => write!(f, "`{t}`"),
            Self::User(user) => write!(f, "@{user}"),
            Self::Group(group) => write!(f, "@{group}"),
            Self::Channel(channel) => write!(f, "#{channel}"),
            Self::Link { label, url } if label == url => f.write_str(url),
            Self::Link { label, url } => write!(f, "{label} ({url})"),
        }
    }
}

/// The neutral plain rendering, without markup: what a terminal shows and
/// logs record (see [`Span`]'s `Display`).
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spans.iter().try_for_each(|span| span.fmt(f))
    }
}

impl From<&'static str> for Text {
    /// A literal is chatdeploy's own text. (There is no `From<String>`: a
    /// formatted string may hold supplied text; say which it is with
    /// [`Text::plain`] or [`Text::from_user`].)
    fn from(text: &'static str) -> Self {
        Self::plain(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs_merge_and_render_without_markup() {
        let text = Text::plain("app ")
            .and("r-1 ")
            .emphasis("now")
            .and(", by ")
            .user(UserId::new("U1"))
            .and(" in ")
            .channel(ChannelId::new("C1"))
            .and(": ")
            .link("Release", "https://x.example/r-1")
            .and(" ")
            .code("deploy app r-1");
        assert_eq!(text.spans().len(), 10);
        assert_eq!(
            text.to_string(),
            "app r-1 now, by @U1 in #C1: Release (https://x.example/r-1) `deploy app r-1`"
        );
        assert!(Text::new().is_empty() && Text::plain("").is_empty());
        let joined = Text::new().join(
            [Text::plain("a"), Text::from_user("b"), Text::plain("c")],
            ", ",
        );
        assert_eq!(joined.to_string(), "a, b, c");
    }
}
