//! Which Slack transport the environment asks for: Socket Mode with an
//! app-level token, or the Events API with a signing secret.

use std::net::SocketAddr;

use crate::error::BotError;

/// Where to look when something is missing.
pub const SETUP_HELP: &str = "See \"Connect your Slack and AWS\" in README.md: create the Slack \
app from deploy/slack-app-manifest.yml, then export SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN \
(xapp-…, Socket Mode) or SLACK_SIGNING_SECRET with --listen ADDR (Events API); AWS uses the \
default credential chain (AWS_PROFILE, SSO, credential_process or AWS_ACCESS_KEY_ID…, and \
AWS_REGION).";

/// The Slack transport, with its secret.
#[derive(Clone)]
#[non_exhaustive]
pub enum Transport {
    /// Socket Mode: the bot dials Slack with an app-level token.
    SocketMode {
        /// `xapp-…`.
        app_token: String,
    },
    /// The Events API: Slack calls the bot, which checks signatures.
    EventsApi {
        /// The app's signing secret.
        signing_secret: String,
        /// Where to listen.
        listen: SocketAddr,
    },
}

impl std::fmt::Debug for Transport {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SocketMode { .. } => f.write_str("SocketMode"),
            Self::EventsApi { listen, .. } => write!(f, "EventsApi({listen})"),
        }
    }
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The transport the environment and `--listen` ask for.
///
/// # Errors
///
/// [`BotError::Setup`] listing every missing variable.
pub fn transport_from_env(listen: Option<SocketAddr>) -> Result<Transport, BotError> {
    let mut missing = Vec::new();
    if env("SLACK_BOT_TOKEN").is_none() {
        missing.push("SLACK_BOT_TOKEN (the bot token, xoxb-…)".to_owned());
    }
    let transport = match listen {
        Some(listen) => match env("SLACK_SIGNING_SECRET") {
            Some(signing_secret) => Some(Transport::EventsApi {
                signing_secret,
                listen,
            }),
            None => {
                missing.push("SLACK_SIGNING_SECRET (for the Events API with --listen)".to_owned());
                None
            }
        },
        None => match env("SLACK_APP_TOKEN") {
            Some(app_token) => Some(Transport::SocketMode { app_token }),
            None => {
                missing.push(
                    "SLACK_APP_TOKEN (the app-level token, xapp-…, for Socket Mode; or \
                     SLACK_SIGNING_SECRET with --listen ADDR for the Events API)"
                        .to_owned(),
                );
                None
            }
        },
    };
    match transport {
        Some(transport) if missing.is_empty() => Ok(transport),
        _ => Err(BotError::Setup { missing }),
    }
}
