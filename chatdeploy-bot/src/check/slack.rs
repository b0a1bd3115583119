//! The Slack part of `check`: the bot token (`auth.test`), the bot's
//! membership of each deploy channel, and the transport's secret: the app
//! token for Socket Mode (`apps.connections.open`), or that the signing
//! secret is set for the Events API.

use chatdeploy_core::Catalog;
use chatdeploy_core::chat::ChatError;
use chatdeploy_slack::{SLACK_API_URL, SlackSurface, SocketModeListener, hint};

use super::CheckSummary;
use crate::error::sentence;
use crate::transport::env;

pub(super) async fn check(catalog: &Catalog, events_api: bool, summary: &mut CheckSummary) {
    bot_token(catalog, summary).await;
    if events_api {
        if env("SLACK_SIGNING_SECRET").is_some() {
            summary.ok("Slack: SLACK_SIGNING_SECRET is set for the Events API (Slack's signatures are checked on each request)");
        } else {
            summary.fail("Slack: SLACK_SIGNING_SECRET is not set; the Events API (--listen) needs the app's signing secret (Basic Information in the app's settings)");
        }
        return;
    }
    let Some(app_token) = env("SLACK_APP_TOKEN") else {
        summary.fail("Slack: SLACK_APP_TOKEN is not set; Socket Mode needs an app-level token (xapp-…) with connections:write, or use --listen ADDR with SLACK_SIGNING_SECRET for the Events API");
        return;
    };
    let api_url = env("SLACK_API_URL").unwrap_or_else(|| SLACK_API_URL.to_owned());
    match SocketModeListener::check_app_token(&app_token, &api_url).await {
        Ok(()) => summary.ok("Slack: the app token opens Socket Mode connections"),
        Err(error) => summary.fail(&format!("Slack: {}", sentence(&error))),
    }
}

async fn bot_token(catalog: &Catalog, summary: &mut CheckSummary) {
    if env("SLACK_BOT_TOKEN").is_none() {
        summary.skip("Slack", "SLACK_BOT_TOKEN is not set");
        return;
    }
    let slack = match SlackSurface::from_env() {
        Ok(slack) => slack,
        Err(error) => {
            summary.fail(&format!("Slack: {}", sentence(&error)));
            return;
        }
    };
    match slack.auth_test().await {
        Err(ChatError::Refused { code, .. }) => summary.fail(&format!(
            "Slack refused the bot token ({code}); check SLACK_BOT_TOKEN (xoxb-…)"
        )),
        Err(error) => summary.fail(&crate::error::BotError::from_auth_test(error).to_string()),
        Ok(bot) => {
            summary.ok(&format!("Slack: the token belongs to <@{}>", bot.user_id));
            for channel in catalog.chat().deploy_channels() {
                match slack.is_member(channel).await {
                    Ok(true) => summary.ok(&format!("the bot is in <#{channel}>")),
                    Ok(false) => summary.fail(&format!(
                        "the bot is not in <#{channel}>: type `/invite @deploybot` there"
                    )),
                    Err(error) => {
                        summary.fail(&format!("<#{channel}>: {error}; {}", hint(&error)));
                    }
                }
            }
        }
    }
}
