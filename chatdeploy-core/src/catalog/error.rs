//! Errors of loading the catalog and of looking things up in it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::template::Placeholder;
use crate::suggest::Lookalike;

/// Longest user input echoed back in an error message, in characters.
const ECHO_LIMIT: usize = 40;

/// `text` cut to at most [`ECHO_LIMIT`] characters (on a char boundary),
/// with `…` marking the cut.
pub(crate) fn truncate_input(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT - 1) {
        Some((cut, _)) if text[cut..].chars().nth(1).is_some() => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

/// Why the catalog could not be loaded. Every message names the file, and
/// the line and column when known, and says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadCatalogError {
    /// The file could not be read.
    #[error("could not read the catalog {}: {source}", path.display())]
    Read {
        /// The path that was given.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML, or does not have the expected shape: a
    /// missing required key, an unknown key, a value of the wrong type.
    /// `line` and `column` are 1-based; when the TOML parser reports no
    /// position they are both 0 and left out of the message.
    #[error("{}: {message}", Position { origin, location: (*line > 0).then_some((*line, *column)) })]
    Syntax {
        /// The file name (or other origin) the text came from.
        origin: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column in characters, 0 if unknown.
        column: usize,
        /// The parser's description of the problem.
        message: String,
    },
    /// The file is well-formed TOML but the configuration is not valid.
    #[error("{}: {problem}", Position { origin, location: *location })]
    Invalid {
        /// The file name (or other origin) the text came from.
        origin: String,
        /// 1-based line and column (in characters) of the offending value, when known.
        location: Option<(usize, usize)>,
        /// What is wrong (boxed to keep `Result<_, LoadCatalogError>` small;
        /// see also [`LoadCatalogError::problem`]).
        problem: Box<CatalogProblem>,
    },
}

impl LoadCatalogError {
    /// 1-based line and column of the problem, when known.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { line, column, .. } => (*line > 0).then_some((*line, *column)),
            Self::Invalid { location, .. } => *location,
        }
    }

    /// The validation problem, for [`LoadCatalogError::Invalid`].
    pub fn problem(&self) -> Option<&CatalogProblem> {
        match self {
            Self::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// `origin:line:column`, or just `origin`.
struct Position<'a> {
    origin: &'a str,
    location: Option<(usize, usize)>,
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.origin),
            None => f.write_str(self.origin),
        }
    }
}

/// One reason a well-formed configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogProblem {
    /// `[chat] deploy_channels` is empty.
    #[error(
        "chat.deploy_channels is empty; list at least one channel ID (C… or G…) where mutating commands are allowed"
    )]
    NoDeployChannels,
    /// A deploy channel is not a channel ID.
    #[error("\"{id}\" in chat.deploy_channels is not a channel ID: {reason}")]
    InvalidChannel {
        /// The configured value.
        id: String,
        /// Why, in the chat surface's words (see
        /// [`IdentityRules`](crate::chat::IdentityRules)).
        reason: String,
    },
    /// A role entry is not a user or user-group ID as the chat surface names
    /// them.
    #[error("\"{id}\" in {field} is not a user or user-group ID: {reason}")]
    InvalidPrincipal {
        /// Where it was found, e.g. `roles.approvers` or `services.app.deployers`.
        field: String,
        /// The configured value.
        id: String,
        /// Why, in the chat surface's words.
        reason: String,
    },
    /// A `deployers` list is present but empty, so nobody could deploy.
    #[error(
        "{field} is empty, so nobody could deploy; list user or user-group IDs, or remove the key to allow anyone in the deploy channels"
    )]
    EmptyDeployers {
        /// `roles.deployers` or `services.<name>.deployers`.
        field: String,
    },
    /// `min_approvals` is below 1 (or absurdly large).
    #[error("{field} is {value}; it must be a whole number of at least 1")]
    InvalidMinApprovals {
        /// `approval.min_approvals` or `services.<name>.min_approvals`.
        field: String,
        /// The configured value.
        value: i64,
    },
    /// `approval.timeout` is not a positive duration.
    #[error(
        "approval.timeout \"{value}\" is not a valid duration ({reason}); write it like \"2h\", \"45m\" or \"1h30m\" (units d, h, m, s)"
    )]
    InvalidDuration {
        /// The configured value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// There is no `[services.<name>]` table.
    #[error("no services are configured; add at least one [services.<name>] table")]
    NoServices,
    /// A service name or alias is empty or contains whitespace, so it could
    /// never be typed as one word in a command.
    #[error(
        "\"{name}\" cannot be a service name or alias; use one word without spaces (letters, digits, '-', '_', '.')"
    )]
    InvalidServiceName {
        /// The configured name or alias.
        name: String,
    },
    /// Two services share a name or alias (compared case-insensitively), or
    /// a service lists the same alias twice.
    #[error("{}", duplicate_alias(alias, first_service, second_service))]
    DuplicateAlias {
        /// The name or alias as written the second time.
        alias: String,
        /// The service that uses it first (in name order).
        first_service: String,
        /// The service that uses it again.
        second_service: String,
    },
    /// A required text field is empty.
    #[error("service \"{service}\" has an empty {field}; give it a value")]
    EmptyField {
        /// The service.
        service: String,
        /// The field, e.g. `document` or `version_pattern`.
        field: String,
    },
    /// `version_pattern` is not a valid regular expression.
    #[error(
        "service \"{service}\" has an invalid version_pattern \"{pattern}\": {message}; fix the regular expression"
    )]
    InvalidVersionPattern {
        /// The service.
        service: String,
        /// The configured pattern.
        pattern: String,
        /// The regex parser's explanation.
        message: String,
    },
    /// `version_example` does not match `version_pattern`.
    #[error(
        "service \"{service}\" has version_example \"{example}\", which does not match its version_pattern \"{pattern}\"; fix one of them"
    )]
    ExampleMismatch {
        /// The service.
        service: String,
        /// The configured example.
        example: String,
        /// The configured pattern.
        pattern: String,
    },
    /// `environments` is present but empty, or names one environment twice.
    #[error(
        "service \"{service}\" has an invalid environments list: {reason}; list distinct environment names, the default first, or remove the key for [\"production\"]"
    )]
    InvalidEnvironments {
        /// The service.
        service: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template uses a placeholder outside the closed set.
    #[error(
        "service \"{service}\" uses unknown placeholder {{{placeholder}}} in {field}; use one of {}",
        Placeholder::list()
    )]
    UnknownPlaceholder {
        /// The service.
        service: String,
        /// The field, e.g. `parameters.ReleaseVersion` or `release_url`.
        field: String,
        /// The name between the braces.
        placeholder: String,
    },
    /// A template has a `{` without a matching `}`.
    #[error(
        "service \"{service}\" has an unclosed {{ in {field}; close the placeholder with }} or write {{{{ for a literal brace"
    )]
    UnclosedPlaceholder {
        /// The service.
        service: String,
        /// The field, e.g. `parameters.ReleaseVersion` or `release_url`.
        field: String,
    },
    /// A template has a `}` without a `{` before it.
    #[error(
        "service \"{service}\" has a }} without a matching {{ in {field}; write }}}} for a literal brace"
    )]
    UnmatchedBrace {
        /// The service.
        service: String,
        /// The field, e.g. `parameters.ReleaseVersion` or `release_url`.
        field: String,
    },
    /// The service needs approval but has nobody to approve it (fail closed).
    #[error(
        "service \"{service}\" needs approval but has no approvers; list approvers in [roles] or on the service, or set approval = \"none\""
    )]
    NoApprovers {
        /// The service.
        service: String,
    },
    /// Only individual users may approve, and fewer than `min_approvals`.
    #[error(
        "service \"{service}\" needs {min_approvals} approvals but only {approvers} approvers are listed; add approvers (or a user group) or lower min_approvals"
    )]
    UnsatisfiableApprovals {
        /// The service.
        service: String,
        /// The effective `min_approvals`.
        min_approvals: u32,
        /// Number of distinct individual approvers.
        approvers: usize,
    },
}

fn duplicate_alias(alias: &str, first: &str, second: &str) -> String {
    if first == second {
        format!(
            "service \"{first}\" lists \"{alias}\" twice as its name or alias (compared case-insensitively); remove the repeat"
        )
    } else {
        format!(
            "\"{alias}\" is used by both service \"{first}\" and service \"{second}\" (names and aliases are compared case-insensitively); rename or remove one"
        )
    }
}

/// A service name or alias that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", unknown_service(given, suggestion.as_deref(), lookalike.as_ref(), known))]
#[non_exhaustive]
pub struct UnknownServiceError {
    /// What was typed (truncated to about 40 characters).
    pub given: String,
    /// The closest service name or alias, as written in the catalog.
    pub suggestion: Option<String>,
    /// When what was typed is the suggestion but for look-alike characters
    /// (a Cyrillic `а` in `аpp`), the first of them.
    pub lookalike: Option<Lookalike>,
    /// Canonical names of all services, sorted.
    pub known: Vec<String>,
}

/// [`UnknownServiceError`]'s sentence: a look-alike is named, as "did you
/// mean `app`?" would not show what is wrong with `аpp`.
fn unknown_service(
    given: &str,
    suggestion: Option<&str>,
    lookalike: Option<&Lookalike>,
    known: &[String],
) -> String {
    match (suggestion, lookalike) {
        (Some(name), Some(l)) => format!(
            "`{given}` contains a look-alike character ({l}) where `{}` belongs; type `{name}` with plain {}.",
            l.plain,
            l.plain_kind()
        ),
        _ => format!(
            "There is no service `{given}`.{} Known services: {}.",
            suggestion
                .map(|s| format!(" Did you mean `{s}`?"))
                .unwrap_or_default(),
            known.join(", ")
        ),
    }
}

/// A version that does not match the service's `version_pattern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{version}` is not a version of {service}: it must match `{pattern}`{}.",
    example.as_ref().map(|e| format!(", for example `{e}`")).unwrap_or_default()
)]
#[non_exhaustive]
pub struct VersionMismatchError {
    /// The canonical service name.
    pub service: String,
    /// What was typed (truncated to about 40 characters).
    pub version: String,
    /// The service's version pattern.
    pub pattern: String,
    /// The service's version example, if configured.
    pub example: Option<String>,
}

/// An environment the service does not deploy to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{service} has no environment `{given}`. Known environments: {}.",
    known.join(", ")
)]
#[non_exhaustive]
pub struct UnknownEnvironmentError {
    /// The canonical service name.
    pub service: String,
    /// What was typed (truncated to about 40 characters).
    pub given: String,
    /// The service's environments, default first.
    pub known: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_long_input_on_char_boundary() {
        assert_eq!(truncate_input("short"), "short");
        let forty = "é".repeat(40);
        assert_eq!(truncate_input(&forty), forty);
        let long = "é".repeat(41);
        let cut = truncate_input(&long);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…'));
    }
}
