//! [`parse`]: text to [`Command`].

use super::error::echo;
use super::normalize::normalize;
use super::words::{self, Word, Words};
use super::{Command, MAX_INPUT_BYTES, ParseCommandError, Verb};
use crate::suggest::lookalike;

/// The largest `n` `history` accepts.
const MAX_HISTORY: u32 = 100;

/// Parses the text of a message or slash command into a [`Command`].
///
/// The text is plain text: a chat surface undoes its own markup first (the
/// Slack adapter drops the bot mention and decodes `&amp;`, links and
/// mentions). Backticks and code fences, zero-width and non-breaking spaces
/// are ignored; an argument in quotes, straight or typographic, is the
/// argument without them (a quoted reason keeps its spaces as typed); an
/// optional leading `run` is skipped; the verb and the keywords `to` and
/// `for` are case-insensitive; everything else is kept as typed. Pure: never
/// panics, and allocates only the strings of the result (plus one copy of
/// the text when it has backticks or odd spaces). Text longer than
/// [`MAX_INPUT_BYTES`] is rejected unread.
///
/// # Errors
///
/// A [`ParseCommandError`] whose `Display` tells the person what to type:
/// empty text, text too long, an unknown verb (with a "did you mean"), a
/// command word with a look-alike character in it (Cyrillic `е` in
/// `dеploy`), a missing, surplus or invalid argument (with the usage line).
///
/// # Examples
///
/// ```
/// use chatdeploy_core::{Command, parse};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let command = parse("run Deploy app “r-99.1.0” to staging for `CHG-12`")?;
///     assert_eq!(
///         command,
///         Command::Deploy {
///             service: "app".into(),
///             version: "r-99.1.0".into(),
///             environment: Some("staging".into()),
///             ticket: Some("CHG-12".into()),
///         }
///     );
///     assert_eq!(command.to_string(), "deploy app r-99.1.0 to staging for CHG-12");
///
///     let error = parse("depoly app r-99.1.0").unwrap_err();
///     assert_eq!(
///         error.to_string(),
///         "`depoly` is not a command. Did you mean `deploy`? Type `help` to list the commands."
///     );
///     Ok(())
/// }
/// ```
pub fn parse(text: &str) -> Result<Command, ParseCommandError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(ParseCommandError::TooLong {
            len: text.len(),
            max: MAX_INPUT_BYTES,
        });
    }
    let text = normalize(text);
    let mut words = Words::new(&text);
    let mut first = words.next().ok_or(ParseCommandError::Empty)?;
    if first.value.eq_ignore_ascii_case("run") {
        first = words.next().ok_or(ParseCommandError::Empty)?;
    }
    let verb: Verb = first.value.parse().map_err(|error| {
        // `rսn deploy …`: the look-alike is in `run`, not in a verb.
        lookalike_of(first, "run").unwrap_or(error)
    })?;
    Args { verb, words }.command()
}

/// The words after the verb.
struct Args<'a> {
    verb: Verb,
    words: Words<'a>,
}

impl<'a> Args<'a> {
    fn command(mut self) -> Result<Command, ParseCommandError> {
        let command = match self.verb {
            Verb::Deploy => return self.deploy(),
            Verb::Rollback => {
                let service = self.required("service")?;
                let version = match self.words.next() {
                    Some(to) if to.is_keyword("to") => Some(self.required("version")?),
                    Some(word) => match lookalike_of(word, "to") {
                        Some(error) => return Err(error),
                        None => Some(word.value.to_owned()),
                    },
                    None => None,
                };
                Command::Rollback { service, version }
            }
            Verb::Cancel => Command::Cancel {
                target: self.required("service or deployment id")?,
            },
            Verb::Approve => Command::Approve {
                target: self.required("service or deployment id")?,
            },
            Verb::Reject => {
                return Ok(Command::Reject {
                    target: self.required("service or deployment id")?,
                    reason: words::rest(&mut self.words),
                });
            }
            Verb::Lock => {
                return Ok(Command::Lock {
                    service: self.required("service")?,
                    reason: words::rest(&mut self.words),
                });
            }
            Verb::Unlock => Command::Unlock {
                service: self.required("service")?,
            },
            Verb::Status => Command::Status {
                service: self.words.next().map(|w| w.value.to_owned()),
            },
            Verb::History => Command::History {
                service: self.required("service")?,
                limit: self
                    .words
                    .next()
                    .map(|w| history_limit(w.value))
                    .transpose()?,
            },
            Verb::Services => Command::Services,
            Verb::Runbook => Command::Runbook {
                service: self.required("service")?,
            },
            Verb::Help => Command::Help {
                topic: self.words.next().map(|w| w.value.parse()).transpose()?,
            },
        };
        self.finish()?;
        Ok(command)
    }

    /// `deploy <service> <version>`, then `to <env>` and `for <ticket>` in any
    /// order, each at most once.
    fn deploy(mut self) -> Result<Command, ParseCommandError> {
        let service = self.required("service")?;
        let version = self.required("version")?;
        let (mut environment, mut ticket) = (None, None);
        while let Some(word) = self.words.next() {
            let (slot, argument) = if word.is_keyword("to") {
                (&mut environment, "environment")
            } else if word.is_keyword("for") {
                (&mut ticket, "ticket")
            } else {
                let lookalike = lookalike_of(word, "to").or_else(|| lookalike_of(word, "for"));
                return Err(lookalike.unwrap_or_else(|| self.unexpected(word.raw)));
            };
            if slot.is_some() {
                return Err(match self.words.next() {
                    Some(value) => self.unexpected(&format!("{} {}", word.raw, value.raw)),
                    None => self.unexpected(word.raw),
                });
            }
            *slot = Some(self.required(argument)?);
        }
        Ok(Command::Deploy {
            service,
            version,
            environment,
            ticket,
        })
    }

    /// The next word, or a [`ParseCommandError::MissingArgument`].
    fn required(&mut self, argument: &'static str) -> Result<String, ParseCommandError> {
        self.words
            .next()
            .map(|w| w.value.to_owned())
            .ok_or(ParseCommandError::MissingArgument {
                verb: self.verb,
                argument,
            })
    }

    /// Fails on the first surplus word.
    fn finish(mut self) -> Result<(), ParseCommandError> {
        match self.words.next() {
            Some(word) => Err(self.unexpected(word.raw)),
            None => Ok(()),
        }
    }

    fn unexpected(&self, argument: &str) -> ParseCommandError {
        ParseCommandError::UnexpectedArgument {
            verb: self.verb,
            argument: echo(argument),
        }
    }
}

/// The error for a word that is the keyword `keyword` but for look-alike
/// characters (`tо` with a Cyrillic `о`), which would otherwise read as a
/// value or a surplus word.
fn lookalike_of(word: Word<'_>, keyword: &'static str) -> Option<ParseCommandError> {
    let lookalike = lookalike(word.value, keyword)?;
    Some(ParseCommandError::Lookalike {
        word: echo(word.value),
        intended: keyword,
        lookalike,
    })
}

/// The `n` of `history <service> [n]`: an integer from 1 to 100.
fn history_limit(word: &str) -> Result<u32, ParseCommandError> {
    word.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_HISTORY).contains(n))
        .ok_or_else(|| ParseCommandError::InvalidArgument {
            verb: Verb::History,
            argument: "n",
            value: echo(word),
            expected: "a number from 1 to 100",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Command {
        match parse(text) {
            Ok(command) => command,
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    #[test]
    fn deploy_options_in_any_order() {
        let expected = Command::Deploy {
            service: "App".into(),
            version: "r-99.1.0".into(),
            environment: Some("Staging".into()),
            ticket: Some("CHG-12".into()),
        };
        assert_eq!(ok("deploy App r-99.1.0 to Staging for CHG-12"), expected);
        assert_eq!(ok("DEPLOY App r-99.1.0 FOR CHG-12 To Staging"), expected);
        assert_eq!(
            ok("Run deploy App r-99.1.0 for CHG-12 to Staging"),
            expected
        );
    }

    #[test]
    fn keyword_like_values_are_positional() {
        let c = Command::Deploy {
            service: "to".into(),
            version: "for".into(),
            environment: Some("for".into()),
            ticket: Some("to".into()),
        };
        assert_eq!(c.to_string(), "deploy to for to for for to");
        assert_eq!(ok(&c.to_string()), c);
        let c = Command::Rollback {
            service: "to".into(),
            version: Some("to".into()),
        };
        assert_eq!(ok(&c.to_string()), c);
        assert_eq!(
            ok("deploy run r-1"),
            Command::Deploy {
                service: "run".into(),
                version: "r-1".into(),
                environment: None,
                ticket: None,
            }
        );
    }

    #[test]
    fn rollback_accepts_a_bare_version() {
        let c = Command::Rollback {
            service: "app".into(),
            version: Some("r-98.0.0".into()),
        };
        assert_eq!(ok("rollback app r-98.0.0"), c);
        assert_eq!(ok("rollback app TO r-98.0.0"), c);
        assert_eq!(
            ok("rollback app"),
            Command::Rollback {
                service: "app".into(),
                version: None
            }
        );
    }

    #[test]
    fn reasons_are_the_rest_with_single_spaces() {
        assert_eq!(
            ok("reject d-1  too\trisky for  to\u{00A0}day"),
            Command::Reject {
                target: "d-1".into(),
                reason: Some("too risky for to day".into())
            }
        );
        assert_eq!(
            ok("lock app"),
            Command::Lock {
                service: "app".into(),
                reason: None
            }
        );
    }

    #[test]
    fn read_only_commands() {
        assert_eq!(ok("status"), Command::Status { service: None });
        assert_eq!(
            ok("Status app"),
            Command::Status {
                service: Some("app".into())
            }
        );
        assert_eq!(
            ok("history app 100"),
            Command::History {
                service: "app".into(),
                limit: Some(100)
            }
        );
        assert_eq!(ok("services"), Command::Services);
        assert_eq!(
            ok("help ROLLBACK"),
            Command::Help {
                topic: Some(Verb::Rollback)
            }
        );
        assert_eq!(ok("help"), Command::Help { topic: None });
    }

    #[test]
    fn long_values_are_truncated_in_errors() {
        let blob = "x".repeat(3000);
        let message = parse(&format!("status app {blob}"))
            .unwrap_err()
            .to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains('…'));
    }
}
