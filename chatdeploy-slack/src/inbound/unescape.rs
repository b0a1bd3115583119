//! Undoing Slack's text escaping, so that the engine gets a command as
//! plain text.
//!
//! Slack sends mentions, channel references and links as `<…>` constructs
//! and escapes a literal `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;`
//! (in app mentions, direct messages and slash commands alike). [`unescape`]
//! turns that back into what the person sees, in one pass, and borrows the
//! text when there is nothing to undo. What any chat adds (backticks, odd
//! spaces, quotes) is the core parser's, not this module's.

use std::borrow::Cow;

/// The text with Slack's escaping undone:
///
/// - leading mentions (`<@U123>`, `<@U123|deploybot>`) address the bot and
///   are dropped with the whitespace after them; later ones become `@U123`
///   (the immutable ID, never the label);
/// - `<#C123|name>` becomes `#name`, `<!subteam^S123|@group>` becomes
///   `@group`, `<!here>` becomes `@here`, `<!date^…|fallback>` the fallback;
/// - `<https://…|label>` becomes `label`, `<https://…>` the URL;
/// - `&amp;`, `&lt;` and `&gt;` are decoded once (`&amp;lt;` becomes `&lt;`).
///
/// ```
/// use chatdeploy_slack::inbound::unescape;
///
/// assert_eq!(unescape("<@U0BOT> lock app &amp; ui"), "lock app & ui");
/// assert_eq!(
///     unescape("deploy app r-1 for <https://jira.example/CHG-9|CHG-9>"),
///     "deploy app r-1 for CHG-9"
/// );
/// ```
pub fn unescape(text: &str) -> Cow<'_, str> {
    if !needs_work(text) {
        return Cow::Borrowed(text);
    }
    // The usual shape, `<@BOT> command`: the mention is dropped and the rest
    // may need nothing, so it can be borrowed too.
    if let Some(rest) = after_leading_mention(text)
        && !needs_work(rest)
    {
        return Cow::Borrowed(rest.trim_start());
    }
    Cow::Owned(rewrite(text))
}

/// [`unescape`]'s general case: the text rebuilt piece by piece.
fn rewrite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Whether no word has been written yet (a mention here addresses the bot).
    let mut leading = true;
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let start = out.len();
        push_plain(&mut out, &rest[..open]);
        let after = &rest[open + 1..];
        match after.find(['<', '>']) {
            Some(close) if after.as_bytes()[close] == b'>' => {
                let inner = &after[..close];
                rest = &after[close + 1..];
                if leading && is_blank(&out[start..]) && is_mention(inner) {
                    // Dropped, with the whitespace after it.
                    rest = rest.trim_start();
                    continue;
                }
                push_escape(&mut out, inner);
            }
            // An unmatched `<` (Slack would have sent `&lt;`): keep it.
            _ => {
                out.push('<');
                rest = after;
            }
        }
        leading = leading && is_blank(&out[start..]);
    }
    push_plain(&mut out, rest);
    out
}

/// Whether `<inner>` is a user mention.
fn is_mention(inner: &str) -> bool {
    inner.starts_with('@')
}

/// Whether `text` has no word: only whitespace, and the backticks and
/// zero-width characters the parser ignores too (`` `<@BOT>` status ``).
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace() || matches!(c, '`' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// The text after a leading `<@…>` mention, when it starts with one.
fn after_leading_mention(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("<@")?;
    match inner.find(['<', '>']) {
        Some(close) if inner.as_bytes()[close] == b'>' => Some(&inner[close + 1..]),
        _ => None,
    }
}

/// Whether [`unescape`] may have anything to change.
fn needs_work(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'<' | b'&'))
}

/// Appends text outside `<…>`, with the three entities decoded.
fn push_plain(out: &mut String, mut text: &str) {
    const ENTITIES: [(&str, char); 3] = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')];
    while let Some(amp) = text.find('&') {
        out.push_str(&text[..amp]);
        text = &text[amp..];
        match ENTITIES.iter().find(|(entity, _)| text.starts_with(entity)) {
            Some((entity, decoded)) => {
                out.push(*decoded);
                text = &text[entity.len()..];
            }
            None => {
                out.push('&');
                text = &text[1..];
            }
        }
    }
    out.push_str(text);
}

/// Appends what the construct `<inner>` stands for.
fn push_escape(out: &mut String, inner: &str) {
    let (head, label) = match inner.split_once('|') {
        Some((head, label)) if !label.is_empty() => (head, Some(label)),
        Some((head, _)) => (head, None),
        None => (inner, None),
    };
    if let Some(user) = head.strip_prefix('@') {
        out.push('@');
        push_plain(out, user);
    } else if let Some(channel) = head.strip_prefix('#') {
        out.push('#');
        push_plain(out, label.unwrap_or(channel));
    } else if let Some(special) = head.strip_prefix('!') {
        if let Some(group) = special.strip_prefix("subteam^") {
            let name = label.unwrap_or(group);
            if !name.starts_with('@') {
                out.push('@');
            }
            push_plain(out, name);
        } else if special.contains('^') {
            // `<!date^…^{format}|fallback>` and the like: the fallback text.
            push_plain(out, label.unwrap_or(special));
        } else {
            // `<!here>`, `<!channel>`, `<!everyone>`.
            out.push('@');
            push_plain(out, special);
        }
    } else {
        // A link (`https:`, `mailto:`, …): its label, or the address itself.
        push_plain(out, label.unwrap_or(head));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(text: &str) -> String {
        unescape(text).into_owned()
    }

    #[test]
    fn plain_text_is_borrowed() {
        for text in [
            "deploy app r-99.1.0 to staging",
            "deploy café r-1",
            "lock app “x” `y`",
        ] {
            assert!(matches!(unescape(text), Cow::Borrowed(t) if t == text));
        }
        assert!(matches!(unescape("lock app &amp; more"), Cow::Owned(_)));
    }

    #[test]
    fn a_command_after_a_mention_is_borrowed() {
        assert!(matches!(
            unescape("<@U0BOT> status"),
            Cow::Borrowed("status")
        ));
        assert!(matches!(
            unescape("<@U0BOT|bot>  status"),
            Cow::Borrowed("status")
        ));
        assert!(matches!(unescape("<@U0BOT> a &amp; b"), Cow::Owned(_)));
    }

    proptest::proptest! {
        /// The borrowing shortcuts answer exactly what the rewrite would.
        #[test]
        fn shortcuts_agree_with_the_rewrite(text in "(<@[U0a|<>]{0,4}>?)?[<>@|U0 a&;`#!tlgmp\u{200B}\u{2019}]{0,20}") {
            proptest::prop_assert_eq!(unescape(&text), rewrite(&text));
        }
    }

    #[test]
    fn leading_mentions_are_dropped() {
        assert_eq!(u("<@U123ABC> deploy app"), "deploy app");
        assert_eq!(u("<@U123ABC|deploybot> status"), "status");
        assert_eq!(u("<@U1> <@U2|x>  status"), "status");
        assert_eq!(u(" <@U1>\tstatus"), " status");
        assert_eq!(u("`<@U1>` status"), "`` status");
        assert_eq!(u("\u{200B}<@U1>status"), "\u{200B}status");
        assert_eq!(u("<@U1>"), "");
    }

    #[test]
    fn later_mentions_keep_the_id() {
        assert_eq!(u("reject app ask <@U042|alice>"), "reject app ask @U042");
        assert_eq!(u("<@U0BOT> lock app for <@W9>"), "lock app for @W9");
    }

    #[test]
    fn channels_groups_and_specials() {
        assert_eq!(u("lock app see <#C123|ops>"), "lock app see #ops");
        assert_eq!(u("lock app see <#C123>"), "lock app see #C123");
        assert_eq!(u("lock app <!subteam^S123|@sre>"), "lock app @sre");
        assert_eq!(u("lock app <!subteam^S123>"), "lock app @S123");
        assert_eq!(u("lock app <!here> <!channel>"), "lock app @here @channel");
        assert_eq!(
            u("lock app until <!date^1392734382^{date}|Feb 18>"),
            "lock app until Feb 18"
        );
    }

    #[test]
    fn links_become_label_or_address() {
        assert_eq!(
            u("deploy app r-1 for <https://jira.acme.dev/browse/CHG-9|CHG-9>"),
            "deploy app r-1 for CHG-9"
        );
        assert_eq!(
            u("lock app <https://acme.dev/a?b=1&amp;c=2>"),
            "lock app https://acme.dev/a?b=1&c=2"
        );
        assert_eq!(u("lock app <mailto:a@b.c|a@b.c>"), "lock app a@b.c");
        assert_eq!(u("lock app <mailto:a@b.c>"), "lock app mailto:a@b.c");
        assert_eq!(u("lock app <https://x|>"), "lock app https://x");
        assert_eq!(u("lock app <https://x|a &amp; b>"), "lock app a & b");
    }

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(u("a &amp; b &lt;c&gt;"), "a & b <c>");
        assert_eq!(u("&amp;lt;"), "&lt;");
        assert_eq!(u("&amp;amp;"), "&amp;");
        assert_eq!(u("a & b &quot; &"), "a & b &quot; &");
        assert_eq!(u("&lt;@U1&gt; status"), "<@U1> status");
        assert_eq!(u("é&amp;😀&"), "é&😀&");
    }

    #[test]
    fn unmatched_brackets_are_kept() {
        assert_eq!(u("a < b"), "a < b");
        assert_eq!(u("a <b <@U1> c"), "a <b @U1 c");
        assert_eq!(u("a > b"), "a > b");
        assert_eq!(u("<"), "<");
        assert_eq!(u("<>"), "");
    }

    #[test]
    fn what_any_chat_adds_is_left_to_the_parser() {
        assert_eq!(
            u("`deploy`\u{00A0}app “r-1” &amp;"),
            "`deploy`\u{00A0}app “r-1” &"
        );
    }
}
