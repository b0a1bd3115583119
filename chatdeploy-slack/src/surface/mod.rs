//! [`SlackSurface`]: the core [`ChatSurface`] over Slack's Web API
//! (slack-morphism with a ring-backed hyper connector).

mod errors;

pub use errors::hint;
mod limits;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy_core::chat::{ChatError, ChatSurface, Conversation, Message, PostedMessage};
use chatdeploy_core::ids::{ChannelId, GroupId, UserId};
use chatdeploy_core::metrics;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::blocks;
use crate::client::{self, BuildError, Client, SLACK_API_URL};
use errors::Target;
use limits::{Backoff, TtlCache};

/// How long user-group members are cached by default.
pub const DEFAULT_GROUP_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// How many times a rate-limited call is retried by default.
pub const DEFAULT_RATE_LIMIT_RETRIES: u32 = 3;

/// Who the bot is, from `auth.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot user's ID (messages from it are ignored by the listeners).
    pub user_id: UserId,
    /// The bot's ID (`B…`), when Slack says.
    pub bot_id: Option<String>,
}

/// Slack as a [`ChatSurface`].
///
/// Rate limits (HTTP 429) are honoured per method and channel: a call waits
/// out Slack's `Retry-After` for its own key only, so one throttled channel
/// never holds other releases back.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chatdeploy_core::chat::{ChatSurface, Conversation, Message};
/// let slack = chatdeploy_slack::SlackSurface::from_env()?;
/// slack.post(&Conversation::channel("C0DEPLOY"), &Message::text("hello")).await?;
/// # Ok(()) }
/// ```
pub struct SlackSurface {
    client: Client,
    token: SlackApiToken,
    backoff: Backoff,
    groups: TtlCache<Vec<UserId>>,
    max_retries: u32,
}

impl std::fmt::Debug for SlackSurface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSurface")
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SlackSurface`].
#[derive(Debug, Clone)]
pub struct SlackSurfaceBuilder {
    token: Option<String>,
    api_url: String,
    group_ttl: Duration,
    max_retries: u32,
}

impl SlackSurfaceBuilder {
    /// The bot token (`xoxb-…`).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The Web API base URL (default `https://slack.com/api`; a fake's
    /// `http://127.0.0.1:…/api` in tests).
    #[must_use]
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// How long user-group members are cached.
    #[must_use]
    pub fn with_group_cache_ttl(mut self, ttl: Duration) -> Self {
        self.group_ttl = ttl;
        self
    }

    /// How many times a rate-limited call is retried before
    /// [`ChatError::RateLimited`] is returned.
    #[must_use]
    pub fn with_rate_limit_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Builds the surface.
    ///
    /// # Errors
    ///
    /// [`BuildError`] without a token or when TLS cannot be set up.
    pub fn build(self) -> Result<SlackSurface, BuildError> {
        let token = self
            .token
            .ok_or(BuildError::MissingToken("SLACK_BOT_TOKEN"))?;
        Ok(SlackSurface {
            client: client::build(&self.api_url)?,
            token: SlackApiToken::new(SlackApiTokenValue::new(token)),
            backoff: Backoff::default(),
            groups: TtlCache::new(self.group_ttl),
            max_retries: self.max_retries,
        })
    }
}

impl SlackSurface {
    /// A builder with Slack's API URL and the default limits.
    pub fn builder() -> SlackSurfaceBuilder {
        SlackSurfaceBuilder {
            token: None,
            api_url: SLACK_API_URL.to_owned(),
            group_ttl: DEFAULT_GROUP_CACHE_TTL,
            max_retries: DEFAULT_RATE_LIMIT_RETRIES,
        }
    }

    /// A surface from `SLACK_BOT_TOKEN` (and `SLACK_API_URL`, if set).
    ///
    /// # Errors
    ///
    /// [`BuildError::MissingToken`] when `SLACK_BOT_TOKEN` is unset.
    pub fn from_env() -> Result<Self, BuildError> {
        let mut builder = Self::builder();
        if let Ok(token) = std::env::var("SLACK_BOT_TOKEN") {
            builder = builder.with_token(token);
        }
        if let Ok(url) = std::env::var("SLACK_API_URL") {
            builder = builder.with_api_url(url);
        }
        builder.build()
    }

    /// Who the bot is (`auth.test`), e.g. to ignore its own messages.
    ///
    /// # Errors
    ///
    /// [`ChatError`] when the token is refused or Slack is unreachable.
    pub async fn auth_test(&self) -> Result<BotIdentity, ChatError> {
        let session = self.client.open_session(&self.token);
        let none = Target {
            channel: None,
            message: None,
        };
        let resp = self
            .call("auth.test", "auth.test", none, || session.auth_test())
            .await?;
        Ok(BotIdentity {
            user_id: UserId::new(resp.user_id.0),
            bot_id: resp.bot_id.map(|b| b.0),
        })
    }

    /// Whether the bot is a member of `channel` (`conversations.info`), for
    /// preflight checks.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChannelNotFound`] when the channel does not exist or is
    /// invisible to the bot, and the other [`ChatError`]s of a call.
    pub async fn is_member(&self, channel: &ChannelId) -> Result<bool, ChatError> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiConversationsInfoRequest::new(SlackChannelId(channel.to_string()));
        let target = Target {
            channel: Some(channel.as_str()),
            message: None,
        };
        let resp = self
            .call("conversations.info", "conversations.info", target, || {
                session.conversations_info(&request)
            })
            .await?;
        Ok(resp.channel.flags.is_member.unwrap_or(false))
    }

    /// Runs `call`, waiting out `Retry-After` for `key` only and retrying.
    async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        target: Target<'_>,
        mut call: F,
    ) -> Result<T, ChatError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, SlackClientError>> + Send,
    {
        let mut attempt = 0;
        metrics::slack_api_call(operation);
        let failed = loop {
            self.backoff.wait(key).await;
            match call().await {
                Ok(value) => return Ok(value),
                Err(SlackClientError::RateLimitError(rate)) => {
                    metrics::slack_api_rate_limited(operation);
                    let wait = rate.retry_after.unwrap_or(Duration::from_secs(1));
                    self.backoff.defer(key, wait);
                    attempt += 1;
                    if attempt > self.max_retries {
                        break ChatError::RateLimited {
                            retry_after: Some(wait),
                        };
                    }
                    tracing::debug!(operation, key, ?wait, attempt, "Slack rate limit; waiting");
                }
                Err(err) => break errors::map(operation, target, err),
            }
        };
        metrics::slack_api_error(operation, errors::kind(&failed));
        Err(failed)
    }
}

fn content(message: &Message) -> Result<SlackMessageContent, ChatError> {
    let rendered = blocks::render(message);
    let blocks: Vec<SlackBlock> = serde_json::from_value(serde_json::Value::Array(rendered.blocks))
        .map_err(|e| ChatError::Transport {
            operation: "render Block Kit".to_owned(),
            source: Box::new(e),
        })?;
    Ok(SlackMessageContent::new()
        .with_text(rendered.text)
        .with_blocks(blocks))
}

#[async_trait]
impl ChatSurface for SlackSurface {
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError> {
        let channel = to.channel.as_str();
        let req = SlackApiChatPostMessageRequest::new(
            SlackChannelId::new(channel.to_owned()),
            content(message)?,
        )
        .opt_thread_ts(
            to.thread
                .as_ref()
                .map(|t| SlackTs::new(t.as_str().to_owned())),
        );
        let session = self.client.open_session(&self.token);
        let key = format!("chat.postMessage:{channel}");
        let target = Target {
            channel: Some(channel),
            message: None,
        };
        let resp = self
            .call("chat.postMessage", &key, target, || {
                session.chat_post_message(&req)
            })
            .await?;
        Ok(PostedMessage {
            channel: resp.channel.0.into(),
            id: resp.ts.0.into(),
        })
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError> {
        let channel = posted.channel.as_str();
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId::new(channel.to_owned()),
            content(message)?,
            SlackTs::new(posted.id.as_str().to_owned()),
        );
        let session = self.client.open_session(&self.token);
        let key = format!("chat.update:{channel}");
        let target = Target {
            channel: Some(channel),
            message: Some(posted.id.as_str()),
        };
        self.call("chat.update", &key, target, || session.chat_update(&req))
            .await?;
        Ok(())
    }

    async fn post_ephemeral(
        &self,
        to: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError> {
        let channel = to.channel.as_str();
        let req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId::new(channel.to_owned()),
            SlackUserId::new(user.as_str().to_owned()),
            content(message)?,
        )
        .opt_thread_ts(
            to.thread
                .as_ref()
                .map(|t| SlackTs::new(t.as_str().to_owned())),
        );
        let session = self.client.open_session(&self.token);
        let key = format!("chat.postEphemeral:{channel}");
        let target = Target {
            channel: Some(channel),
            message: None,
        };
        self.call("chat.postEphemeral", &key, target, || {
            session.chat_post_ephemeral(&req)
        })
        .await?;
        Ok(())
    }

    async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError> {
        if let Some(members) = self.groups.get(group.as_str()) {
            return Ok(members);
        }
        let req = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId::new(
            group.as_str().to_owned(),
        ));
        let session = self.client.open_session(&self.token);
        let target = Target {
            channel: None,
            message: None,
        };
        let resp = self
            .call(
                "usergroups.users.list",
                "usergroups.users.list",
                target,
                || session.usergroups_users_list(&req),
            )
            .await?;
        let members: Vec<UserId> = resp.users.into_iter().map(|u| UserId::new(u.0)).collect();
        self.groups.put(group.as_str(), members.clone());
        Ok(members)
    }
}
