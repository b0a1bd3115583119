#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! SlackSurface (the real slack-morphism client) against the fake Web API.

use std::time::{Duration, Instant};

use chatdeploy_core::chat::{ChatError, ChatSurface, Conversation, Message, PostedMessage, Tone};
use chatdeploy_core::ids::{GroupId, UserId};
use chatdeploy_slack::SlackSurface;
use chatdeploy_slack::fake::{FakeFailure, FakeSlackApi};

async fn surface(fake: &FakeSlackApi) -> SlackSurface {
    SlackSurface::builder()
        .with_token("xoxb-test-token")
        .with_api_url(fake.api_url())
        .with_group_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_in_thread_update_and_ephemeral() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = surface(&fake).await;

    let who = slack.auth_test().await.unwrap();
    assert_eq!(who.user_id.as_str(), fake.bot_user());

    let thread = Conversation::channel("C0DEPLOY").in_thread("1699999999.000100");
    let message = Message::text("Deploying *app* r-99.1.0")
        .with_tone(Tone::Progress)
        .with_field("Service", "app");
    let posted = slack.post(&thread, &message).await.unwrap();
    assert_eq!(posted.channel.as_str(), "C0DEPLOY");

    let call = &fake.calls_to("chat.postMessage")[0];
    assert_eq!(call.auth.as_deref(), Some("Bearer xoxb-test-token"));
    assert_eq!(call.params["channel"], "C0DEPLOY");
    assert_eq!(call.params["thread_ts"], "1699999999.000100");
    assert_eq!(call.params["text"], "Deploying *app* r-99.1.0");
    assert_eq!(
        call.params["blocks"],
        chatdeploy_slack::blocks::render(&message).to_json()["blocks"]
    );

    slack
        .update(&posted, &Message::text("Deployed app r-99.1.0"))
        .await
        .unwrap();
    let kept = fake.messages();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].ts, posted.id.as_str());
    assert_eq!(kept[0].text, "Deployed app r-99.1.0");
    assert_eq!(kept[0].edits, 1);

    slack
        .post_ephemeral(
            &thread,
            &UserId::new("U1"),
            &Message::text("Only you can see this"),
        )
        .await
        .unwrap();
    let call = &fake.calls_to("chat.postEphemeral")[0];
    assert_eq!(call.params["user"], "U1");
    assert_eq!(call.params["thread_ts"], "1699999999.000100");
    assert_eq!(fake.messages()[1].ephemeral_to.as_deref(), Some("U1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_errors_become_chat_errors_with_hints() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = surface(&fake).await;
    fake.remove_bot_from("C0PRIVATE");
    fake.delete_channel("C0GONE");

    let err = slack
        .post(&Conversation::channel("C0PRIVATE"), &Message::text("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::NotInChannel { channel } if channel.as_str() == "C0PRIVATE"),
        "{err:?}"
    );
    assert!(chatdeploy_slack::hint(&err).contains("/invite"));

    let err = slack
        .post(&Conversation::channel("C0GONE"), &Message::text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::ChannelNotFound { .. }), "{err:?}");

    let gone = PostedMessage {
        channel: "C1".into(),
        id: "1.000001".into(),
    };
    let err = slack.update(&gone, &Message::text("x")).await.unwrap_err();
    assert!(
        matches!(&err, ChatError::MessageNotFound { message, .. } if message.as_str() == "1.000001"),
        "{err:?}"
    );

    fake.fail_next(
        "chat.postMessage",
        None,
        FakeFailure::Error("invalid_auth".into()),
    );
    let err = slack
        .post(&Conversation::channel("C1"), &Message::text("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Refused { code, operation } if code == "invalid_auth" && operation == "chat.postMessage")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_cached() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = surface(&fake).await;
    fake.set_group("S0DEVS", &["U1", "U2"]);
    let group = GroupId::new("S0DEVS");
    let members = slack.group_members(&group).await.unwrap();
    assert_eq!(members, vec![UserId::new("U1"), UserId::new("U2")]);
    assert_eq!(slack.group_members(&group).await.unwrap(), members);
    let calls = fake.calls_to("usergroups.users.list");
    assert_eq!(calls.len(), 1, "the second lookup is served from the cache");
    assert_eq!(calls[0].params["usergroup"], "S0DEVS");

    let err = slack
        .group_members(&GroupId::new("S0NONE"))
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::Refused { code, .. } if code == "no_such_subteam"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_out_retry_after_without_blocking_other_channels() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = std::sync::Arc::new(surface(&fake).await);
    fake.fail_next(
        "chat.postMessage",
        Some("C0BUSY"),
        FakeFailure::RateLimited {
            retry_after_secs: 1,
        },
    );

    let started = Instant::now();
    let busy = {
        let slack = slack.clone();
        tokio::spawn(async move {
            let posted = slack
                .post(&Conversation::channel("C0BUSY"), &Message::text("one"))
                .await;
            (posted, started.elapsed())
        })
    };
    // Let the throttled call see its 429 first.
    while fake.calls_to("chat.postMessage").is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    slack
        .post(&Conversation::channel("C0CALM"), &Message::text("two"))
        .await
        .unwrap();
    let calm_took = started.elapsed();
    let (posted, busy_took) = busy.await.unwrap();
    posted.unwrap();
    assert!(
        calm_took < Duration::from_millis(700),
        "other channel was blocked: {calm_took:?}"
    );
    assert!(
        busy_took >= Duration::from_secs(1),
        "Retry-After not honoured: {busy_took:?}"
    );
    let channels: Vec<_> = fake
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| c.params["channel"].clone())
        .collect();
    assert_eq!(channels, ["C0BUSY", "C0CALM", "C0BUSY"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_gives_up_after_the_retry_budget() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = SlackSurface::builder()
        .with_token("xoxb-t")
        .with_api_url(fake.api_url())
        .with_rate_limit_retries(0)
        .build()
        .unwrap();
    fake.fail_next(
        "chat.update",
        None,
        FakeFailure::RateLimited {
            retry_after_secs: 1,
        },
    );
    let posted = PostedMessage {
        channel: "C1".into(),
        id: "1.1".into(),
    };
    let err = slack
        .update(&posted, &Message::text("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChatError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[test]
fn a_surface_needs_a_token() {
    assert!(SlackSurface::builder().build().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_membership_for_preflight() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = surface(&fake).await;
    let channel = chatdeploy_core::ids::ChannelId::new("C0DEPLOY");
    assert!(slack.is_member(&channel).await.unwrap());
    fake.remove_bot_from("C0DEPLOY");
    assert!(!slack.is_member(&channel).await.unwrap());
    assert_eq!(fake.calls_to("conversations.info").len(), 2);
}
