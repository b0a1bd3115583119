//! Core [`Text`] as Slack mrkdwn. Everything chatdeploy and people wrote is
//! escaped (`&`, `<`, `>`), so only the spans that mean a mention, a
//! channel or a link become Slack's `<…>` constructs: no supplied text can
//! mention, link or broadcast (`<!channel>`), whatever it contains. Text
//! objects are also sent `verbatim`, so Slack does not auto-link bare URLs
//! or channel names inside supplied text.

use chatdeploy_core::chat::{Span, Text};

/// Escapes the three characters Slack reads as markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

/// A URL inside `<url|label>`: the characters that would end it early are
/// percent-encoded (a URL rendered from a template may hold typed text).
fn url_into(out: &mut String, url: &str) {
    for c in url.chars() {
        match c {
            '|' => out.push_str("%7C"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '&' => out.push_str("&amp;"),
            c if c.is_whitespace() => out.push_str("%20"),
            other => out.push(other),
        }
    }
}

/// `text` as mrkdwn.
pub fn render(text: &Text) -> String {
    let mut out = String::new();
    for span in text.spans() {
        match span {
            Span::Plain(t) | Span::UserText(t) => escape_into(&mut out, t),
            Span::Emphasis(t) => {
                // `*` inside would end the emphasis early; emphasis is
                // chatdeploy's own short text, so the star goes.
                out.push('*');
                escape_into(&mut out, &t.replace('*', ""));
                out.push('*');
            }
            Span::Code(t) => {
                out.push('`');
                escape_into(&mut out, &t.replace('`', "'"));
                out.push('`');
            }
            Span::User(user) => {
                out.push_str("<@");
                escape_into(&mut out, user.as_str());
                out.push('>');
            }
            Span::Group(group) => {
                out.push_str("<!subteam^");
                escape_into(&mut out, group.as_str());
                out.push('>');
            }
            Span::Channel(channel) => {
                out.push_str("<#");
                escape_into(&mut out, channel.as_str());
                out.push('>');
            }
            Span::Link { label, url } => {
                out.push('<');
                url_into(&mut out, url);
                out.push('|');
                escape_into(&mut out, label);
                out.push('>');
            }
            // A span kind this renderer does not know: its plain text.
            other => escape_into(&mut out, &other.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatdeploy_core::{ChannelId, GroupId, UserId};

    #[test]
    fn spans_become_mrkdwn_and_text_is_escaped() {
        let text = Text::new()
            .emphasis("app")
            .and(" r-1 <to> prod & more, by ")
            .user(UserId::new("U01"))
            .and(" and ")
            .group(GroupId::new("S01"))
            .and(" in ")
            .channel(ChannelId::new("C01"))
            .and(": ")
            .code("deploy app `r-1`")
            .and(" ")
            .link("Release r-1 <x>", "https://x.example/a|b>c")
            .and(" ")
            .user_text("<!channel> <https://evil.example|approve here> &amp;");
        assert_eq!(
            render(&text),
            "*app* r-1 &lt;to&gt; prod &amp; more, by <@U01> and <!subteam^S01> in <#C01>: \
             `deploy app 'r-1'` <https://x.example/a%7Cb%3Ec|Release r-1 &lt;x&gt;> \
             &lt;!channel&gt; &lt;https://evil.example|approve here&gt; &amp;amp;"
        );
    }
}
