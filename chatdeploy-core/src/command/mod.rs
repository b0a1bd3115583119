//! The command grammar: what people type to the bot, parsed by the pure
//! function [`parse`] into a [`Command`].
//!
//! Input is plain text: what a person typed to the bot, with the chat
//! surface's own markup already undone by the surface (the Slack adapter
//! drops the bot mention and decodes mentions, links and `&amp;` entities).
//! Backticks and code fences, non-breaking and zero-width spaces are
//! ignored, then the text is split into words; an argument in quotes,
//! straight or typographic (`"r-99.1.0"`, `“r-99.1.0”`, `‘r-99.1.0’`,
//! `«r-99.1.0»`), is one word without its quotes, and a quoted reason keeps
//! its spaces as typed:
//!
//! ```text
//! [run] deploy <service> <version> [to <env>] [for <ticket>]
//! [run] rollback <service> [to <version>]
//! [run] cancel <service or deployment id>
//! [run] approve <service or deployment id>
//! [run] reject <service or deployment id> [reason]
//! [run] lock <service> [reason]
//! [run] unlock <service>
//! [run] status [service]
//! [run] history <service> [n]
//! [run] services
//! [run] runbook <service>
//! [run] help [command]
//! ```
//!
//! Verbs and the keywords `run`, `to` and `for` are case-insensitive; every
//! other word is kept exactly as typed. A command word typed with look-alike
//! characters (a Cyrillic `е` in `dеploy`) is an error that says so.
//! Whether a service exists or a version matches its pattern is checked
//! against the catalog, after parsing.
//!
//! [`Command`]'s [`Display`](fmt::Display) is the canonical form, and
//! `parse(&command.to_string()) == Ok(command)` for every command `parse`
//! can return: a value with spaces or quotes in it is written in quotes.

use std::fmt;

use words::{write_rest, write_word};

mod error;
mod normalize;
mod parse;
mod verb;
mod words;

pub use error::ParseCommandError;
pub use parse::parse;
pub use verb::Verb;

/// The longest input [`parse`] accepts, in bytes. Longer text is rejected
/// with [`ParseCommandError::TooLong`] before any other work.
pub const MAX_INPUT_BYTES: usize = 4096;

/// Whether a command changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// Only reads state: allowed in any channel.
    ReadOnly,
    /// Starts, stops, decides or freezes releases: allowed only in the deploy
    /// channels, for the people whose role permits it.
    Mutating,
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReadOnly => "read-only",
            Self::Mutating => "mutating",
        })
    }
}

/// A parsed command. Its [`Display`](fmt::Display) is the canonical text:
/// lowercase verb, single spaces, optional parts in grammar order, and
/// quotes only around a value that would not read back without them (one
/// with whitespace, or quotes at its ends).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `deploy <service> <version> [to <env>] [for <ticket>]`: start a release.
    Deploy {
        /// The service as typed (a name or an alias).
        service: String,
        /// The version to release, as typed.
        version: String,
        /// The target environment, after `to`.
        environment: Option<String>,
        /// The change ticket, after `for`.
        ticket: Option<String>,
    },
    /// `rollback <service> [to <version>]`: redeploy the previous (or the
    /// named) successful version.
    Rollback {
        /// The service as typed.
        service: String,
        /// The version to go back to; `None` means the previous successful one.
        version: Option<String>,
    },
    /// `cancel <service or deployment id>`: stop an in-flight release.
    Cancel {
        /// A service name or a deployment ID.
        target: String,
    },
    /// `approve <service or deployment id>`: the text fallback for the
    /// Approve button.
    Approve {
        /// A service name or a deployment ID.
        target: String,
    },
    /// `reject <service or deployment id> [reason]`: the text fallback for
    /// the Reject button.
    Reject {
        /// A service name or a deployment ID.
        target: String,
        /// The rest of the message: words joined by single spaces, or the
        /// quoted text with its spaces as typed.
        reason: Option<String>,
    },
    /// `lock <service> [reason]`: freeze releases of a service.
    Lock {
        /// The service as typed.
        service: String,
        /// The rest of the message: words joined by single spaces, or the
        /// quoted text with its spaces as typed.
        reason: Option<String>,
    },
    /// `unlock <service>`: unfreeze releases of a service.
    Unlock {
        /// The service as typed.
        service: String,
    },
    /// `status [service]`: current version and in-flight releases.
    Status {
        /// The service; `None` asks for the summary of all services.
        service: Option<String>,
    },
    /// `history <service> [n]`: the last `n` releases of a service.
    History {
        /// The service as typed.
        service: String,
        /// How many releases to show, 1 to 100; `None` means the default.
        limit: Option<u32>,
    },
    /// `services`: the accepted service names, version formats and approvers.
    Services,
    /// `runbook <service>`: the service's runbook link.
    Runbook {
        /// The service as typed.
        service: String,
    },
    /// `help [command]`: usage of all commands or of one.
    Help {
        /// The command to explain; `None` lists them all.
        topic: Option<Verb>,
    },
}

impl Command {
    /// The command's verb.
    pub fn verb(&self) -> Verb {
        match self {
            Self::Deploy { .. } => Verb::Deploy,
            Self::Rollback { .. } => Verb::Rollback,
            Self::Cancel { .. } => Verb::Cancel,
            Self::Approve { .. } => Verb::Approve,
            Self::Reject { .. } => Verb::Reject,
            Self::Lock { .. } => Verb::Lock,
            Self::Unlock { .. } => Verb::Unlock,
            Self::Status { .. } => Verb::Status,
            Self::History { .. } => Verb::History,
            Self::Services => Verb::Services,
            Self::Runbook { .. } => Verb::Runbook,
            Self::Help { .. } => Verb::Help,
        }
    }

    /// Whether the command only reads or also changes state.
    pub fn kind(&self) -> CommandKind {
        self.verb().kind()
    }

    /// `true` for commands that start, stop, decide or freeze releases.
    pub fn is_mutating(&self) -> bool {
        self.kind() == CommandKind::Mutating
    }

    /// The service (or, for `cancel`, `approve` and `reject`, the service or
    /// deployment ID) the command is about, when it names one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Deploy { service, .. }
            | Self::Rollback { service, .. }
            | Self::Lock { service, .. }
            | Self::Unlock { service }
            | Self::History { service, .. }
            | Self::Runbook { service } => Some(service),
            Self::Cancel { target } | Self::Approve { target } | Self::Reject { target, .. } => {
                Some(target)
            }
            Self::Status { service } => service.as_deref(),
            Self::Services | Self::Help { .. } => None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb().name())?;
        match self {
            Self::Deploy {
                service,
                version,
                environment,
                ticket,
            } => {
                write_word(f, service)?;
                write_word(f, version)?;
                if let Some(environment) = environment {
                    f.write_str(" to")?;
                    write_word(f, environment)?;
                }
                if let Some(ticket) = ticket {
                    f.write_str(" for")?;
                    write_word(f, ticket)?;
                }
                Ok(())
            }
            Self::Rollback { service, version } => {
                write_word(f, service)?;
                if let Some(version) = version {
                    f.write_str(" to")?;
                    write_word(f, version)?;
                }
                Ok(())
            }
            Self::Cancel { target } | Self::Approve { target } => write_word(f, target),
            Self::Reject { target, reason } => {
                write_word(f, target)?;
                reason.as_deref().map_or(Ok(()), |r| write_rest(f, r))
            }
            Self::Lock { service, reason } => {
                write_word(f, service)?;
                reason.as_deref().map_or(Ok(()), |r| write_rest(f, r))
            }
            Self::Unlock { service } | Self::Runbook { service } => write_word(f, service),
            Self::Status { service } => service.as_deref().map_or(Ok(()), |s| write_word(f, s)),
            Self::History { service, limit } => {
                write_word(f, service)?;
                if let Some(limit) = limit {
                    write!(f, " {limit}")?;
                }
                Ok(())
            }
            Self::Services => Ok(()),
            Self::Help { topic } => topic.map_or(Ok(()), |t| write!(f, " {t}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_canonical() {
        let cases = [
            (
                Command::Deploy {
                    service: "app".into(),
                    version: "r-99.1.0".into(),
                    environment: Some("staging".into()),
                    ticket: Some("CHG-12".into()),
                },
                "deploy app r-99.1.0 to staging for CHG-12",
            ),
            (
                Command::Rollback {
                    service: "app".into(),
                    version: Some("r-98.0.0".into()),
                },
                "rollback app to r-98.0.0",
            ),
            (
                Command::History {
                    service: "app".into(),
                    limit: Some(5),
                },
                "history app 5",
            ),
            (
                Command::Reject {
                    target: "3f2c9a".into(),
                    reason: Some("broken build".into()),
                },
                "reject 3f2c9a broken build",
            ),
            (
                Command::Help {
                    topic: Some(Verb::Deploy),
                },
                "help deploy",
            ),
            (Command::Status { service: None }, "status"),
            (Command::Services, "services"),
            (
                Command::Lock {
                    service: "app".into(),
                    reason: Some("code  freeze".into()),
                },
                "lock app \"code  freeze\"",
            ),
            (
                Command::Reject {
                    target: "d-1".into(),
                    reason: Some("\"quoted\"".into()),
                },
                "reject d-1 '\"quoted\"'",
            ),
            (
                Command::Unlock {
                    service: "my app".into(),
                },
                "unlock \"my app\"",
            ),
        ];
        for (command, text) in cases {
            assert_eq!(command.to_string(), text);
        }
    }

    #[test]
    fn accessors() {
        let c = Command::Reject {
            target: "d-1".into(),
            reason: None,
        };
        assert_eq!(c.verb(), Verb::Reject);
        assert!(c.is_mutating());
        assert_eq!(c.service(), Some("d-1"));
        let c = Command::Status { service: None };
        assert_eq!(c.kind(), CommandKind::ReadOnly);
        assert_eq!(c.service(), None);
        assert_eq!(Command::Help { topic: None }.service(), None);
    }
}
