//! What any chat client adds around a command, undone before the text is
//! split into words: Markdown code formatting (people paste commands in
//! backticks or code fences) and invisible or non-breaking spaces (clients
//! and copy-paste add them). A chat surface's own markup, such as Slack's
//! mentions and `&amp;` entities, is the surface's to undo.

use std::borrow::Cow;

/// The text with backticks and zero-width characters removed and
/// non-breaking spaces made plain spaces; borrowed when there is nothing to
/// change.
pub(super) fn normalize(text: &str) -> Cow<'_, str> {
    if !needs_work(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter_map(replacement).collect())
}

/// Whether [`normalize`] has anything to change.
fn needs_work(text: &str) -> bool {
    text.as_bytes().contains(&b'`')
        || (!text.is_ascii() && text.chars().any(|c| replacement(c) != Some(c)))
}

/// What a character becomes: `None` when it is removed.
fn replacement(c: char) -> Option<char> {
    match c {
        '`' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
        '\u{00A0}' | '\u{2007}' | '\u{202F}' => Some(' '),
        c => Some(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> String {
        normalize(text).into_owned()
    }

    #[test]
    fn plain_text_is_borrowed() {
        for text in [
            "deploy app r-99.1.0 to staging",
            "deploy café r-1",
            "lock app “x” &amp; <y>",
        ] {
            assert!(matches!(normalize(text), Cow::Borrowed(t) if t == text));
        }
        assert!(matches!(normalize("`status`"), Cow::Owned(_)));
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
    fn odd_spaces() {
        assert_eq!(
            n("deploy\u{00A0}app\u{2007}r-1\u{202F}x"),
            "deploy app r-1 x"
        );
        assert_eq!(
            n("de\u{200B}ploy\u{200C} app\u{200D}\u{2060}\u{FEFF}"),
            "deploy app"
        );
    }

    #[test]
    fn a_surfaces_markup_is_not_the_parsers() {
        assert_eq!(n("<x> a &amp; b <y|z>"), "<x> a &amp; b <y|z>");
    }
}
