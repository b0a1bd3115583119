//! Slack Web API errors → core [`ChatError`]s that say what to do.

use chatdeploy_core::chat::ChatError;
use chatdeploy_core::ids::{ChannelId, MessageId};
use slack_morphism::errors::SlackClientError;

/// What a failed call was about, for the error it becomes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) channel: Option<&'a str>,
    pub(crate) message: Option<&'a str>,
}

pub(crate) fn map(operation: &'static str, target: Target<'_>, err: SlackClientError) -> ChatError {
    let channel = || ChannelId::new(target.channel.unwrap_or_default());
    match err {
        SlackClientError::ApiError(api) => match api.code.as_str() {
            "not_in_channel" => ChatError::NotInChannel { channel: channel() },
            "channel_not_found" => ChatError::ChannelNotFound { channel: channel() },
            "message_not_found" | "cant_update_message" if target.message.is_some() => {
                ChatError::MessageNotFound {
                    channel: channel(),
                    message: MessageId::new(target.message.unwrap_or_default()),
                }
            }
            "ratelimited" => ChatError::RateLimited { retry_after: None },
            code => ChatError::Refused {
                operation: operation.to_owned(),
                code: code.to_owned(),
            },
        },
        SlackClientError::RateLimitError(rate) => ChatError::RateLimited {
            retry_after: rate.retry_after,
        },
        other => ChatError::Transport {
            operation: operation.to_owned(),
            source: Box::new(other),
        },
    }
}

/// Slack's codes for a token it does not accept.
const AUTH_CODES: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// The metrics `kind` of a failed call: core's kinds, with a refused token
/// told apart as `auth` (it needs an operator, not a retry).
pub(crate) fn kind(error: &ChatError) -> &'static str {
    match error {
        ChatError::Refused { code, .. } if AUTH_CODES.contains(&code.as_str()) => "auth",
        other => chatdeploy_core::metrics::chat_error_kind(other),
    }
}

/// What an operator should do about a chat error, in Slack's terms (core's
/// [`ChatError::hint`] is surface-neutral).
pub fn hint(error: &ChatError) -> String {
    match error {
        ChatError::NotInChannel { channel } => {
            format!("Invite the bot to channel {channel}: type `/invite @deploybot` there.")
        }
        ChatError::Refused { code, .. } if code == "invalid_auth" || code == "not_authed" => {
            "Slack refused the bot token; check SLACK_BOT_TOKEN (xoxb-…).".to_owned()
        }
        other => other.hint(),
    }
}
