//! [`ParseCommandError`]: why a text is not a command, worded for the person
//! who typed it.

use std::fmt;

use super::Verb;
use crate::suggest::Lookalike;

/// How many characters of a user-supplied word an error echoes back.
const ECHO_CHARS: usize = 40;

/// Why a text is not a command. Its [`Display`](fmt::Display) is one line
/// telling the person what to type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCommandError {
    /// Nothing but whitespace, mentions or formatting.
    Empty,
    /// The text is longer than [`MAX_INPUT_BYTES`](super::MAX_INPUT_BYTES).
    TooLong {
        /// The length of the text, in bytes.
        len: usize,
        /// The most a command may have, in bytes.
        max: usize,
    },
    /// The first word is not a verb (also: `help` with an unknown topic).
    UnknownVerb {
        /// The word, truncated to 40 characters.
        verb: String,
        /// The verb it is a plausible typo of.
        suggestion: Option<Verb>,
    },
    /// A command word (a verb, `run`, `to` or `for`) typed with a
    /// look-alike character, such as a Cyrillic `е` in `dеploy`: it reads
    /// as the word but is not it, and no "did you mean" would show the
    /// difference.
    Lookalike {
        /// The word as typed, truncated to 40 characters.
        word: String,
        /// The command word it passes for, e.g. `"deploy"`.
        intended: &'static str,
        /// The first look-alike character in it.
        lookalike: Lookalike,
    },
    /// A required argument is missing.
    MissingArgument {
        /// The command.
        verb: Verb,
        /// What is missing, e.g. `"version"`.
        argument: &'static str,
    },
    /// A word the command does not take.
    UnexpectedArgument {
        /// The command.
        verb: Verb,
        /// The first surplus word (with its value for a repeated `to`/`for`),
        /// truncated to 40 characters.
        argument: String,
    },
    /// An argument with a value the command cannot use.
    InvalidArgument {
        /// The command.
        verb: Verb,
        /// Which argument, e.g. `"n"`.
        argument: &'static str,
        /// The value given, truncated to 40 characters.
        value: String,
        /// What the argument must be, e.g. `"a number from 1 to 100"`.
        expected: &'static str,
    },
}

impl ParseCommandError {
    /// The verb the error is about, when the verb was recognised.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            Self::MissingArgument { verb, .. }
            | Self::UnexpectedArgument { verb, .. }
            | Self::InvalidArgument { verb, .. } => Some(*verb),
            Self::Empty
            | Self::TooLong { .. }
            | Self::UnknownVerb { .. }
            | Self::Lookalike { .. } => None,
        }
    }

    /// The usage line of the command the error is about, when the verb was
    /// recognised.
    pub fn usage(&self) -> Option<&'static str> {
        self.verb().map(Verb::usage)
    }
}

impl fmt::Display for ParseCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "Type a command, for example `deploy app r-99.1.0`, or `help` to list them.",
            ),
            Self::TooLong { len, max } => write!(
                f,
                "That message is {len} bytes; a command is at most {max}, so type just the command."
            ),
            Self::UnknownVerb { verb, suggestion } => {
                write!(f, "`{verb}` is not a command.")?;
                if let Some(suggestion) = suggestion {
                    write!(f, " Did you mean `{suggestion}`?")?;
                }
                f.write_str(" Type `help` to list the commands.")
            }
            Self::Lookalike {
                word,
                intended,
                lookalike,
            } => write!(
                f,
                "`{word}` contains a look-alike character ({lookalike}) where `{}` belongs; type `{intended}` with plain {}.",
                lookalike.plain,
                lookalike.plain_kind()
            ),
            Self::MissingArgument { verb, argument } => write!(
                f,
                "`{verb}` needs {} {argument}: type `{}`.",
                article(argument),
                verb.usage()
            ),
            Self::UnexpectedArgument { verb, argument } => write!(
                f,
                "`{verb}` does not take `{argument}`: type `{}`.",
                verb.usage()
            ),
            Self::InvalidArgument {
                verb,
                argument,
                value,
                expected,
            } => write!(
                f,
                "`{verb}` takes {expected} as {argument}, not `{value}`: type `{}`.",
                verb.usage()
            ),
        }
    }
}

/// "a" or "an" before `noun`.
fn article(noun: &str) -> &'static str {
    match noun.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

/// A user-supplied word as an error keeps it: at most 40 characters, cut on a
/// character boundary and marked with `…` when cut, and on one line (a
/// quoted argument may hold line breaks and tabs: they become spaces).
pub(super) fn echo(word: &str) -> String {
    let cut = word.char_indices().nth(ECHO_CHARS).map(|(cut, _)| cut);
    let kept = &word[..cut.unwrap_or(word.len())];
    let mut echoed = String::with_capacity(kept.len() + '…'.len_utf8());
    echoed.extend(
        kept.chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c }),
    );
    if cut.is_some() {
        echoed.push('…');
    }
    echoed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_truncates_on_char_boundaries() {
        assert_eq!(echo("short"), "short");
        let forty = "x".repeat(40);
        assert_eq!(echo(&forty), forty);
        let long = "é".repeat(100);
        let echoed = echo(&long);
        assert_eq!(echoed.chars().count(), 41);
        assert!(echoed.ends_with('…'));
        assert_eq!(echo("a\nb\tc\r\u{2028}d"), "a b c  d");
    }

    #[test]
    fn articles() {
        assert_eq!(article("environment"), "an");
        assert_eq!(article("version"), "a");
    }
}
