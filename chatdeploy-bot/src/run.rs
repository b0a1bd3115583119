//! `run`: the bot put together. This is the order an embedder follows:
//! configuration, stores, audit, Slack, AWS, engine, resume, listener;
//! then a graceful stop that lets each release finish its current step.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chatdeploy_aws::SsmBackend;
use chatdeploy_core::Catalog;
use chatdeploy_core::audit::{FanOutAuditSink, TracingAuditSink};
use chatdeploy_core::chat::EventHandler;
use chatdeploy_core::engine::{Engine, PollPolicy};
use chatdeploy_slack::{EventsApiListener, SlackIdentities, SlackSurface, SocketModeListener};

use crate::args::{LogFormat, Options};
use crate::error::BotError;
use crate::stores::open_stores;
use crate::transport::{Transport, env, transport_from_env};

/// Serves Slack until `shutdown` completes, then stops gracefully: releases
/// in flight resume on the next start (or on another replica).
///
/// # Errors
///
/// [`BotError`] when a part cannot be set up (missing settings, a bad
/// configuration, stores, Slack's token, AWS's region) or the listener
/// fails for good.
pub async fn run(
    options: &Options,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), BotError> {
    let transport = transport_from_env(options.listen)?;
    let catalog = Catalog::load_with(&options.config, &SlackIdentities)?;
    // Bad state stops the start with its own message; nothing is reset.
    let (state, audit) = open_stores(&options.state, &options.audit).await?;
    let audit = FanOutAuditSink::new()
        .with_sink(audit)
        .with_sink(Arc::new(TracingAuditSink));
    let slack = Arc::new(SlackSurface::from_env()?);
    let bot = slack.auth_test().await.map_err(BotError::from_auth_test)?;
    let backend = SsmBackend::from_env().await?;

    let engine = Engine::builder()
        .with_catalog(catalog)
        .with_chat(slack)
        .with_backend(Arc::new(backend))
        .with_audit(Arc::new(audit))
        .with_state(state)
        .with_replica_id(
            options
                .replica_id
                .clone()
                .unwrap_or_else(default_replica_id),
        )
        .with_polling(polling(options.poll_waiting))
        .with_lease_ttl(options.lease_ttl)
        .build()?;
    let resumed = engine.resume().await?;
    tracing::info!(resumed, bot = %bot.user_id, "chatdeploy is running");
    let handler: Arc<dyn EventHandler> = Arc::new(engine.clone());

    match transport {
        Transport::SocketMode { app_token } => {
            let mut listener =
                SocketModeListener::new(app_token, handler).with_bot_user(bot.user_id.as_str());
            if let Some(url) = env("SLACK_API_URL") {
                listener = listener.with_api_url(url);
            }
            listener.run(shutdown).await?;
        }
        Transport::EventsApi {
            signing_secret,
            listen,
        } => {
            let listener = EventsApiListener::new(&signing_secret, handler)
                .with_bot_user(bot.user_id.as_str());
            let socket = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|source| BotError::Listen {
                    address: listen,
                    source,
                })?;
            let address = socket.local_addr().unwrap_or(listen);
            match options.log_format {
                // The line scripts (and the tests) wait for.
                LogFormat::Text => crate::report::line(&format!("listening on http://{address}")),
                // Only JSON lines in JSON mode.
                _ => {
                    tracing::info!(url = %format!("http://{address}"), "listening on the Events API")
                }
            }
            listener
                .serve(socket, shutdown)
                .await
                .map_err(|source| BotError::EventsApi { source })?;
        }
    }
    engine.shutdown();
    // Let each release finish the step it is in, so its state is recorded.
    if !engine.until_stopped(Duration::from_secs(10)).await {
        tracing::warn!("some releases were mid-step at exit; they resume on the next start");
    }
    tracing::info!("stopped; releases in flight resume on the next start");
    Ok(())
}

/// The default polling, checking waiting executions every `waiting`.
fn polling(waiting: Duration) -> PollPolicy {
    let default = PollPolicy::default();
    PollPolicy {
        fast: default.fast.min(waiting),
        waiting,
        ..default
    }
}

/// `host-pid`: unique among live replicas, readable in the owner column.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| env("HOSTNAME"))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "chatdeploy".to_owned());
    format!("{host}-{}", std::process::id())
}
