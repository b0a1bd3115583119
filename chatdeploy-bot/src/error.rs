//! Why the bot could not start or stopped: one sentence for the person at
//! the terminal, with the cause said once ([`sentence`]).

use std::error::Error as StdError;
use std::net::SocketAddr;

use chatdeploy_core::chat::ChatError;

/// Why `run` or `check` could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// Settings the bot needs are missing from the environment.
    #[error("chatdeploy needs these environment variables:\n{}\n{}", bullets(.missing), crate::transport::SETUP_HELP)]
    Setup {
        /// Each missing variable with what it is.
        missing: Vec<String>,
    },
    /// The configuration file cannot be used.
    #[error(transparent)]
    Catalog(#[from] chatdeploy_core::LoadCatalogError),
    /// The SQLite state database cannot be opened.
    #[error(transparent)]
    Sqlite(#[from] chatdeploy_sqlite::OpenStateError),
    /// The PostgreSQL store cannot be opened.
    #[error(transparent)]
    Postgres(#[from] chatdeploy_postgres::OpenStoreError),
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] chatdeploy_core::audit::AuditError),
    /// The Slack client cannot be built (no token, TLS).
    #[error(transparent)]
    SlackClient(#[from] chatdeploy_slack::BuildError),
    /// Slack answered `auth.test` with a refusal of the token.
    #[error("Slack refused the bot token ({code}); check SLACK_BOT_TOKEN (xoxb-…)")]
    SlackToken {
        /// Slack's error code, e.g. `invalid_auth`.
        code: String,
    },
    /// Slack could not be asked who the bot is.
    #[error("cannot reach Slack to check the bot token: {}; check the network path to Slack (and SLACK_API_URL, if set)", sentence(.error))]
    SlackUnreachable {
        /// What went wrong.
        #[source]
        error: ChatError,
    },
    /// The AWS backend cannot be configured.
    #[error(transparent)]
    Aws(#[from] chatdeploy_aws::BuildSsmBackendError),
    /// The engine refused its parts.
    #[error(transparent)]
    Engine(#[from] chatdeploy_core::engine::BuildEngineError),
    /// Releases in flight could not be read to resume them.
    #[error(transparent)]
    Resume(#[from] chatdeploy_core::engine::ResumeError),
    /// The Events API address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address from `--listen`.
        address: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The admin address (`--admin`) cannot be listened on.
    #[error("cannot listen on {address} for --admin: {source}")]
    Admin {
        /// The address from `--admin`.
        address: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The metrics recorder cannot be installed.
    #[error(transparent)]
    Metrics(#[from] crate::admin::MetricsError),
    /// The Events API listener failed.
    #[error("the Events API listener failed: {source}")]
    EventsApi {
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The Socket Mode connection failed for good.
    #[error(transparent)]
    SocketMode(#[from] chatdeploy_slack::SocketModeError),
}

impl BotError {
    /// `auth.test`'s failure, named for what it is: a refused token or
    /// Slack out of reach.
    pub(crate) fn from_auth_test(error: ChatError) -> Self {
        match error {
            ChatError::Refused { code, .. } => Self::SlackToken { code },
            error => Self::SlackUnreachable { error },
        }
    }
}

fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("  - {item}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `error` and its causes as one sentence, each cause said once: causes
/// whose text the message already contains (most of this workspace's
/// errors quote their source) are left out.
#[must_use]
pub fn sentence(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_said_once() {
        let error = chatdeploy_core::Catalog::load(std::path::Path::new("/nonexistent/x.toml"))
            .unwrap_err();
        let text = sentence(&BotError::from(error));
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
        assert!(text.contains("/nonexistent/x.toml"), "{text}");
    }

    #[test]
    fn an_unreachable_slack_is_not_a_refused_token() {
        let unreachable = BotError::from_auth_test(ChatError::Transport {
            operation: "auth.test".into(),
            source: "connection refused".into(),
        });
        let text = sentence(&unreachable);
        assert!(text.starts_with("cannot reach Slack"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(
            !text.contains("will be retried"),
            "nothing is retried at start: {text}"
        );
        assert!(
            text.ends_with("(and SLACK_API_URL, if set)"),
            "what to do comes last: {text}"
        );
        assert!(!text.contains("refused the bot token"), "{text}");
        let refused = BotError::from_auth_test(ChatError::Refused {
            operation: "auth.test".into(),
            code: "invalid_auth".into(),
        });
        assert!(sentence(&refused).contains("Slack refused the bot token (invalid_auth)"));
    }
}
