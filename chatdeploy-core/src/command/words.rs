//! Splitting a command into words, where a word in quotes (straight or
//! typographic) is one argument without its quotes.
//!
//! People quote an argument the way they would in prose or a shell:
//! `deploy app "r-99.1.0"`, `deploy app “r-99.1.0”` (clients turn straight
//! quotes into typographic ones), `reject d-1 "too risky today"`. A quoted
//! span starts at a word that opens with a quote and ends at the first
//! closing quote of the same family that ends a word; its inside keeps its
//! spaces as typed. A quote that is never closed (`'til`) is part of a plain
//! word, as typed.

use std::fmt;

/// Quote families: an opening quote of a family is closed by any quote of
/// the same family, since clients and languages pair them differently
/// (`“…”`, `„…“`, `”…”`, `«…»`, `»…«`).
const FAMILIES: [&[char]; 4] = [
    &['"', '“', '”', '„', '‟'],
    &['\'', '‘', '’', '‚', '‛'],
    &['«', '»'],
    &['‹', '›'],
];

/// The quote family `c` belongs to, if it is a quote.
fn family(c: char) -> Option<&'static [char]> {
    FAMILIES.into_iter().find(|family| family.contains(&c))
}

/// One word of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Word<'a> {
    /// The word as typed, quotes included.
    pub(super) raw: &'a str,
    /// The argument it stands for: `raw`, or what is inside the quotes
    /// without surrounding whitespace.
    pub(super) value: &'a str,
    quoted: bool,
}

impl Word<'_> {
    /// Whether the word is the keyword `keyword` (ASCII case-insensitively).
    /// A quoted word never is: quoting makes it a value.
    pub(super) fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.raw.eq_ignore_ascii_case(keyword)
    }
}

/// The words of a text; empty quotes (`""`) are no word at all.
#[derive(Debug, Clone)]
pub(super) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { rest: text }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = Word<'a>;

    fn next(&mut self) -> Option<Word<'a>> {
        loop {
            let text = self.rest.trim_start();
            let word = quoted(text).or_else(|| plain(text));
            let Some(word) = word else {
                self.rest = text;
                return None;
            };
            self.rest = &text[word.raw.len()..];
            if !word.value.is_empty() {
                return Some(word);
            }
        }
    }
}

/// The run of non-whitespace `text` starts with, if any.
fn plain(text: &str) -> Option<Word<'_>> {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let raw = text.get(..end).filter(|raw| !raw.is_empty())?;
    Some(Word {
        raw,
        value: raw,
        quoted: false,
    })
}

/// The quoted span `text` starts with: an opening quote, then anything up
/// to a quote of the same family that is followed by whitespace or the end.
fn quoted(text: &str) -> Option<Word<'_>> {
    let mut chars = text.char_indices();
    let (_, open) = chars.next()?;
    let family = family(open)?;
    let mut chars = chars.peekable();
    while let Some((at, c)) = chars.next() {
        let ends_a_word = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if family.contains(&c) && ends_a_word {
            return Some(Word {
                raw: &text[..at + c.len_utf8()],
                value: text[open.len_utf8()..at].trim(),
                quoted: true,
            });
        }
    }
    None
}

/// The rest of a command as one free-text argument (a reason): a single
/// word or quoted span is its value (`"too risky"` is `too risky`), several
/// are joined by single spaces as typed (quotes inside prose stay).
pub(super) fn rest(words: &mut Words<'_>) -> Option<String> {
    let first = words.next()?;
    let Some(second) = words.next() else {
        return Some(first.value.to_owned());
    };
    let mut rest = String::with_capacity(words.rest.len() + first.raw.len() + second.raw.len() + 1);
    rest.push_str(first.raw);
    for word in std::iter::once(second).chain(words) {
        rest.push(' ');
        rest.push_str(word.raw);
    }
    Some(rest)
}

/// Writes ` value` so that it reads back as one word with this value: as is
/// when it is a plain word, else in quotes of a family it does not contain.
/// A value that starts with a quote is quoted too, as a later word ending in
/// the same quote would close it.
pub(super) fn write_word(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let as_is = value
        .chars()
        .next()
        .is_some_and(|first| family(first).is_none())
        && !value.contains(char::is_whitespace);
    write_quoted_unless(f, value, as_is)
}

/// Writes ` text` so that it reads back as the free-text argument `text`
/// (see [`rest`]).
pub(super) fn write_rest(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    write_quoted_unless(f, text, reads_back_as_rest(text))
}

/// Whether [`rest`] of `text` is `text` itself: one unquoted word, or words
/// separated by single spaces. Without allocating, as `Display` runs for
/// every command the engine audits.
fn reads_back_as_rest(text: &str) -> bool {
    let mut words = Words::new(text);
    let Some(first) = words.next() else {
        return false;
    };
    let mut unread = text;
    let mut count = 0;
    for word in std::iter::once(first).chain(words) {
        if count > 0 {
            let Some(after) = unread.strip_prefix(' ') else {
                return false;
            };
            unread = after;
        }
        let Some(after) = unread.strip_prefix(word.raw) else {
            return false;
        };
        unread = after;
        count += 1;
    }
    unread.is_empty() && (count > 1 || !first.quoted)
}

fn write_quoted_unless(f: &mut fmt::Formatter<'_>, text: &str, as_is: bool) -> fmt::Result {
    if as_is {
        return write!(f, " {text}");
    }
    match FAMILIES.into_iter().find(|family| !text.contains(*family)) {
        Some(family) => write!(f, " {q}{text}{q}", q = family[0]),
        // With every kind of quote inside, no quoting reads back: as typed.
        None => write!(f, " {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<&str> {
        Words::new(text).map(|w| w.value).collect()
    }

    #[test]
    fn plain_words_split_on_whitespace() {
        assert_eq!(values("  deploy\tapp\n r-1  "), ["deploy", "app", "r-1"]);
        assert_eq!(values(""), Vec::<&str>::new());
        assert_eq!(values(" \n "), Vec::<&str>::new());
    }

    #[test]
    fn quoted_words_lose_their_quotes() {
        let expected = ["deploy", "app", "r-99.1.0"];
        for version in [
            "\"r-99.1.0\"",
            "“r-99.1.0”",
            "”r-99.1.0”",
            "„r-99.1.0“",
            "‘r-99.1.0’",
            "'r-99.1.0'",
            "«r-99.1.0»",
            "»r-99.1.0«",
            "‹r-99.1.0›",
            "\" r-99.1.0 \"",
        ] {
            assert_eq!(values(&format!("deploy app {version}")), expected);
        }
    }

    #[test]
    fn quoted_spans_keep_inner_spaces() {
        assert_eq!(
            values("reject d-1 “too  risky\ttoday” ok"),
            ["reject", "d-1", "too  risky\ttoday", "ok"]
        );
        // The span ends at the first closing quote that ends a word.
        assert_eq!(values("\"a \"b\" c\" d"), ["a \"b", "c\"", "d"]);
    }

    #[test]
    fn unclosed_quotes_are_part_of_the_word() {
        assert_eq!(values("'til monday"), ["'til", "monday"]);
        assert_eq!(values("don't \"x"), ["don't", "\"x"]);
        assert_eq!(values("\""), ["\""]);
        assert_eq!(values("a\"b\""), ["a\"b\""]);
    }

    #[test]
    fn empty_quotes_are_no_word() {
        assert_eq!(values("status \"\" ‘ ’ app"), ["status", "app"]);
    }

    #[test]
    fn keywords_are_never_quoted() {
        let words: Vec<_> = Words::new("to \"to\" TO").collect();
        assert!(words[0].is_keyword("to"));
        assert!(!words[1].is_keyword("to"));
        assert!(words[2].is_keyword("to"));
    }

    #[test]
    fn rest_is_a_value_or_words_as_typed() {
        let r = |text: &str| rest(&mut Words::new(text));
        assert_eq!(r(""), None);
        assert_eq!(r("“too  risky”"), Some("too  risky".into()));
        assert_eq!(r(" plain "), Some("plain".into()));
        assert_eq!(
            r("the  \"canary  build\"   failed"),
            Some("the \"canary  build\" failed".into())
        );
    }

    struct Show<'a>(fn(&mut fmt::Formatter<'_>, &str) -> fmt::Result, &'a str);

    impl fmt::Display for Show<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            (self.0)(f, self.1)
        }
    }

    #[test]
    fn written_words_read_back() {
        for value in [
            "app",
            "a b",
            "\"x\"",
            "'x",
            "x\"",
            "a\"b c",
            "“x”",
            "x \"y\" 'z' «w»",
            "\"",
        ] {
            let written = Show(write_word, value).to_string();
            let read: Vec<_> = values(&written);
            assert_eq!(read, [value], "{written:?}");
        }
        assert_eq!(Show(write_word, "app").to_string(), " app");
        assert_eq!(Show(write_word, "a b").to_string(), " \"a b\"");
        assert_eq!(Show(write_word, "say \"hi\"").to_string(), " 'say \"hi\"'");
        assert_eq!(Show(write_word, "'x").to_string(), " \"'x\"");
        assert_eq!(Show(write_word, "x'").to_string(), " x'");
    }

    #[test]
    fn written_rests_read_back() {
        for text in [
            "too risky",
            "too  risky",
            "\"quoted\"",
            "a \"b\"  c",
            "x\ny",
            "one",
        ] {
            let written = Show(write_rest, text).to_string();
            assert_eq!(
                rest(&mut Words::new(&written)).as_deref(),
                Some(text),
                "{written:?}"
            );
        }
        assert_eq!(Show(write_rest, "too risky").to_string(), " too risky");
        assert_eq!(
            Show(write_rest, "too  risky").to_string(),
            " \"too  risky\""
        );
    }
}
