//! [`Verb`]: the first word of a command.

use std::fmt;
use std::str::FromStr;

use super::{CommandKind, ParseCommandError};
use crate::suggest::{did_you_mean, lookalike};

/// The first word of a command (after an optional `run`), case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// `deploy <service> <version> [to <env>] [for <ticket>]`
    Deploy,
    /// `rollback <service> [to <version>]`
    Rollback,
    /// `cancel <service or deployment id>`
    Cancel,
    /// `approve <service or deployment id>`
    Approve,
    /// `reject <service or deployment id> [reason]`
    Reject,
    /// `lock <service> [reason]`
    Lock,
    /// `unlock <service>`
    Unlock,
    /// `status [service]`
    Status,
    /// `history <service> [n]`
    History,
    /// `services`
    Services,
    /// `runbook <service>`
    Runbook,
    /// `help [command]`
    Help,
}

impl Verb {
    /// Every verb, in the order `help` lists them.
    pub const ALL: [Verb; 12] = [
        Verb::Deploy,
        Verb::Rollback,
        Verb::Cancel,
        Verb::Approve,
        Verb::Reject,
        Verb::Lock,
        Verb::Unlock,
        Verb::Status,
        Verb::History,
        Verb::Services,
        Verb::Runbook,
        Verb::Help,
    ];

    /// The verb as typed, lowercase (`"deploy"`).
    pub const fn name(self) -> &'static str {
        match self {
            Verb::Deploy => "deploy",
            Verb::Rollback => "rollback",
            Verb::Cancel => "cancel",
            Verb::Approve => "approve",
            Verb::Reject => "reject",
            Verb::Lock => "lock",
            Verb::Unlock => "unlock",
            Verb::Status => "status",
            Verb::History => "history",
            Verb::Services => "services",
            Verb::Runbook => "runbook",
            Verb::Help => "help",
        }
    }

    /// The usage line, e.g. `"rollback <service> [to <version>]"`.
    pub const fn usage(self) -> &'static str {
        match self {
            Verb::Deploy => "deploy <service> <version> [to <env>] [for <ticket>]",
            Verb::Rollback => "rollback <service> [to <version>]",
            Verb::Cancel => "cancel <service or deployment id>",
            Verb::Approve => "approve <service or deployment id>",
            Verb::Reject => "reject <service or deployment id> [reason]",
            Verb::Lock => "lock <service> [reason]",
            Verb::Unlock => "unlock <service>",
            Verb::Status => "status [service]",
            Verb::History => "history <service> [n]",
            Verb::Services => "services",
            Verb::Runbook => "runbook <service>",
            Verb::Help => "help [command]",
        }
    }

    /// One short line saying what the command does, for `help`.
    pub const fn summary(self) -> &'static str {
        match self {
            Verb::Deploy => "Start a release of a service at a version.",
            Verb::Rollback => "Redeploy the previous (or the named) successful version.",
            Verb::Cancel => "Stop an in-flight release.",
            Verb::Approve => "Approve a release that waits for approval.",
            Verb::Reject => "Reject a release that waits for approval.",
            Verb::Lock => "Freeze releases of a service.",
            Verb::Unlock => "Unfreeze releases of a service.",
            Verb::Status => "Show current versions and in-flight releases.",
            Verb::History => "Show the last releases of a service: who, when, what, outcome.",
            Verb::Services => "List the services, their version format and approvers.",
            Verb::Runbook => "Link the runbook of a service.",
            Verb::Help => "Show how to use the commands.",
        }
    }

    /// Whether the command only reads or also changes state.
    pub const fn kind(self) -> CommandKind {
        match self {
            Verb::Deploy
            | Verb::Rollback
            | Verb::Cancel
            | Verb::Approve
            | Verb::Reject
            | Verb::Lock
            | Verb::Unlock => CommandKind::Mutating,
            Verb::Status | Verb::History | Verb::Services | Verb::Runbook | Verb::Help => {
                CommandKind::ReadOnly
            }
        }
    }

    /// The verb named `word`, compared ASCII case-insensitively.
    pub(crate) fn lookup(word: &str) -> Option<Verb> {
        Verb::ALL
            .into_iter()
            .find(|verb| verb.name().eq_ignore_ascii_case(word))
    }

    /// The verb `word` most plausibly is a typo of.
    fn suggest(word: &str) -> Option<Verb> {
        did_you_mean(word, Verb::ALL.map(Verb::name)).and_then(Verb::lookup)
    }

    /// The error for a word that is a verb but for look-alike characters.
    fn lookalike(word: &str) -> Option<ParseCommandError> {
        Verb::ALL.into_iter().find_map(|verb| {
            Some(ParseCommandError::Lookalike {
                word: super::error::echo(word),
                intended: verb.name(),
                lookalike: lookalike(word, verb.name())?,
            })
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Verb {
    type Err = ParseCommandError;

    /// Parses a verb case-insensitively. A verb typed with look-alike
    /// characters is [`ParseCommandError::Lookalike`]; another unknown word
    /// is [`ParseCommandError::UnknownVerb`], with a suggestion when it
    /// looks like a typo; blank input is [`ParseCommandError::Empty`].
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        let word = word.trim();
        if word.is_empty() {
            return Err(ParseCommandError::Empty);
        }
        Verb::lookup(word).ok_or_else(|| {
            Verb::lookalike(word).unwrap_or_else(|| ParseCommandError::UnknownVerb {
                verb: super::error::echo(word),
                suggestion: Verb::suggest(word),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for verb in Verb::ALL {
            assert_eq!(verb.name().parse::<Verb>(), Ok(verb));
            assert_eq!(verb.name().to_uppercase().parse::<Verb>(), Ok(verb));
            assert_eq!(verb.to_string(), verb.name());
            assert!(verb.usage().starts_with(verb.name()));
            assert!(!verb.summary().is_empty());
        }
    }

    #[test]
    fn unknown_verbs_get_suggestions() {
        let err = |w: &str| w.parse::<Verb>().unwrap_err();
        assert_eq!(
            err("depoly"),
            ParseCommandError::UnknownVerb {
                verb: "depoly".into(),
                suggestion: Some(Verb::Deploy)
            }
        );
        assert_eq!(
            err("banana"),
            ParseCommandError::UnknownVerb {
                verb: "banana".into(),
                suggestion: None
            }
        );
        assert_eq!(err(" "), ParseCommandError::Empty);
    }

    #[test]
    fn kinds() {
        let mutating: Vec<_> = Verb::ALL
            .into_iter()
            .filter(|v| v.kind() == CommandKind::Mutating)
            .map(Verb::name)
            .collect();
        assert_eq!(
            mutating,
            [
                "deploy", "rollback", "cancel", "approve", "reject", "lock", "unlock"
            ]
        );
    }
}
