//! Undoing Slack's text escaping before the text is split into words.
//!
//! Slack sends mentions, channel references and links as `<…>` constructs and
//! escapes a literal `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;`; people
//! paste commands in backticks or code fences, and clients add smart quotes,
//! non-breaking and zero-width spaces. [`normalize`] turns all of that back
//! into plain words, in one pass, and borrows the input when there is nothing
//! to undo.

use std::borrow::Cow;

/// The text with Slack's escaping undone:
///
/// - leading mentions (`<@U123>`, `<@U123|deploybot>`) are dropped, later ones
///   become `@U123` (the immutable ID, never the label);
/// - `<#C123|name>` becomes `#name`, `<!subteam^S123|@group>` becomes
///   `@group`, `<!here>` becomes `@here`;
/// - `<https://…|label>` becomes `label`, `<https://…>` the URL;
/// - `&amp;`, `&lt;` and `&gt;` are decoded once (`&amp;lt;` becomes `&lt;`);
/// - backticks (and so code fences) and zero-width characters are removed;
/// - smart quotes become `'` and `"`, non-breaking spaces become spaces.
pub(super) fn normalize(text: &str) -> Cow<'_, str> {
    if !needs_work(text) {
        return Cow::Borrowed(text);
    }
    // The usual shape, `<@BOT> command`: the mention is dropped and the rest
    // may need nothing, so it can be borrowed too.
    if let Some(rest) = after_leading_mention(text)
        && !needs_work(rest)
    {
        return Cow::Borrowed(rest);
    }
    Cow::Owned(rewrite(text))
}

/// [`normalize`]'s general case: the text rebuilt piece by piece.
fn rewrite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        push_plain(&mut out, &rest[..open]);
        let after = &rest[open + 1..];
        match after.find(['<', '>']) {
            Some(close) if after.as_bytes()[close] == b'>' => {
                push_escape(&mut out, &after[..close]);
                rest = &after[close + 1..];
            }
            // An unmatched `<` (Slack would have sent `&lt;`): keep it.
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    push_plain(&mut out, rest);
    out
}

/// The text after a leading `<@…>` mention, when it starts with one.
fn after_leading_mention(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("<@")?;
    match inner.find(['<', '>']) {
        Some(close) if inner.as_bytes()[close] == b'>' => Some(&inner[close + 1..]),
        _ => None,
    }
}

/// Whether [`normalize`] may have anything to change.
fn needs_work(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'<' | b'&' | b'`'))
        || (!text.is_ascii() && text.chars().any(|c| replacement(c) != Some(c)))
}

/// What a plain-text character becomes: `None` when it is removed.
fn replacement(c: char) -> Option<char> {
    match c {
        '`' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
        '\u{2018}' | '\u{2019}' => Some('\''),
        '\u{201C}' | '\u{201D}' => Some('"'),
        '\u{00A0}' | '\u{2007}' | '\u{202F}' => Some(' '),
        c => Some(c),
    }
}

/// Appends text outside `<…>`: decodes the three entities, removes backticks
/// and zero-width characters, straightens quotes, widens non-breaking spaces.
fn push_plain(out: &mut String, mut text: &str) {
    const ENTITIES: [(&str, char); 3] = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')];
    'chars: while let Some(c) = text.chars().next() {
        if c == '&' {
            for (entity, decoded) in ENTITIES {
                if let Some(after) = text.strip_prefix(entity) {
                    out.push(decoded);
                    text = after;
                    continue 'chars;
                }
            }
        }
        if let Some(replaced) = replacement(c) {
            out.push(replaced);
        }
        text = &text[c.len_utf8()..];
    }
}

/// Appends what the construct `<inner>` stands for.
fn push_escape(out: &mut String, inner: &str) {
    let (head, label) = match inner.split_once('|') {
        Some((head, label)) if !label.is_empty() => (head, Some(label)),
        Some((head, _)) => (head, None),
        None => (inner, None),
    };
    if let Some(user) = head.strip_prefix('@') {
        // A mention before any word addresses the bot: not part of the command.
        if !out.trim_start().is_empty() {
            out.push('@');
            push_plain(out, user);
        }
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

    fn n(text: &str) -> String {
        normalize(text).into_owned()
    }

    #[test]
    fn plain_ascii_is_borrowed() {
        assert!(matches!(
            normalize("deploy app r-99.1.0 to staging"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalize("deploy café r-1"), Cow::Borrowed(_)));
        assert!(matches!(normalize("lock app &amp; more"), Cow::Owned(_)));
    }

    #[test]
    fn a_command_after_a_mention_is_borrowed() {
        assert!(matches!(
            normalize("<@U0BOT> status"),
            Cow::Borrowed(" status")
        ));
        assert!(matches!(
            normalize("<@U0BOT|bot> status"),
            Cow::Borrowed(" status")
        ));
        assert!(matches!(normalize("<@U0BOT> `status`"), Cow::Owned(_)));
    }

    proptest::proptest! {
        /// The borrowing shortcuts answer exactly what the rewrite would.
        #[test]
        fn shortcuts_agree_with_the_rewrite(text in "(<@[U0a|<>]{0,4}>?)?[<>@|U0 a&;`#!tlgmp\u{200B}\u{2019}]{0,20}") {
            proptest::prop_assert_eq!(normalize(&text), rewrite(&text));
        }
    }

    #[test]
    fn leading_mentions_are_dropped() {
        assert_eq!(n("<@U123ABC> deploy app"), " deploy app");
        assert_eq!(n("<@U123ABC|deploybot> status"), " status");
        assert_eq!(n("<@U1> <@U2|x>  status"), "   status");
        assert_eq!(n("`<@U1>` status"), " status");
        assert_eq!(n("\u{200B}<@U1>status"), "status");
        assert_eq!(n("<@U1>"), "");
    }

    #[test]
    fn later_mentions_keep_the_id() {
        assert_eq!(n("reject app ask <@U042|alice>"), "reject app ask @U042");
        assert_eq!(n("<@U0BOT> lock app for <@W9>"), " lock app for @W9");
    }

    #[test]
    fn channels_groups_and_specials() {
        assert_eq!(n("lock app see <#C123|ops>"), "lock app see #ops");
        assert_eq!(n("lock app see <#C123>"), "lock app see #C123");
        assert_eq!(n("lock app <!subteam^S123|@sre>"), "lock app @sre");
        assert_eq!(n("lock app <!subteam^S123>"), "lock app @S123");
        assert_eq!(n("lock app <!here> <!channel>"), "lock app @here @channel");
        assert_eq!(
            n("lock app until <!date^1392734382^{date}|Feb 18>"),
            "lock app until Feb 18"
        );
    }

    #[test]
    fn links_become_label_or_address() {
        assert_eq!(
            n("deploy app r-1 for <https://jira.acme.dev/browse/CHG-9|CHG-9>"),
            "deploy app r-1 for CHG-9"
        );
        assert_eq!(
            n("lock app <https://acme.dev/a?b=1&amp;c=2>"),
            "lock app https://acme.dev/a?b=1&c=2"
        );
        assert_eq!(n("lock app <mailto:a@b.c|a@b.c>"), "lock app a@b.c");
        assert_eq!(n("lock app <mailto:a@b.c>"), "lock app mailto:a@b.c");
        assert_eq!(n("lock app <https://x|>"), "lock app https://x");
        assert_eq!(n("lock app <https://x|a &amp; b>"), "lock app a & b");
    }

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(n("a &amp; b &lt;c&gt;"), "a & b <c>");
        assert_eq!(n("&amp;lt;"), "&lt;");
        assert_eq!(n("&amp;amp;"), "&amp;");
        assert_eq!(n("a & b &quot; &"), "a & b &quot; &");
        assert_eq!(n("&lt;@U1&gt; status"), "<@U1> status");
    }

    #[test]
    fn unmatched_brackets_are_kept() {
        assert_eq!(n("a < b"), "a < b");
        assert_eq!(n("a <b <@U1> c"), "a <b @U1 c");
        assert_eq!(n("a > b"), "a > b");
        assert_eq!(n("<"), "<");
        assert_eq!(n("<>"), "");
    }

    #[test]
    fn code_formatting_is_removed() {
        assert_eq!(
            n("`rollback` app to `r-98.0.0`"),
            "rollback app to r-98.0.0"
        );
        assert_eq!(n("```deploy app r-1```"), "deploy app r-1");
        assert_eq!(n("```\ndeploy app r-1\n```"), "\ndeploy app r-1\n");
    }

    #[test]
    fn quotes_and_spaces() {
        assert_eq!(
            n("lock app \u{2018}x\u{2019} \u{201C}y\u{201D}"),
            "lock app 'x' \"y\""
        );
        assert_eq!(
            n("deploy\u{00A0}app\u{2007}r-1\u{202F}x"),
            "deploy app r-1 x"
        );
        assert_eq!(
            n("de\u{200B}ploy\u{200C} app\u{200D}\u{2060}\u{FEFF}"),
            "deploy app"
        );
    }
}
