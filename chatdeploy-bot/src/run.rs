//! `run`: the bot put together. This is the order an embedder follows:
//! (with `--admin`) the metrics recorder and the admin listener, then
//! configuration, stores, audit, Slack, AWS, engine, resume, listener;
//! then a graceful stop that lets each release finish its current step.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatdeploy_aws::SsmBackend;
use chatdeploy_core::Catalog;
use chatdeploy_core::audit::{FanOutAuditSink, TracingAuditSink};
use chatdeploy_core::backend::DeployBackend;
use chatdeploy_core::chat::EventHandler;
use chatdeploy_core::engine::{Engine, PollPolicy};
use chatdeploy_core::state::StateStore;
use chatdeploy_slack::{EventsApiListener, SlackIdentities, SlackSurface, SocketModeListener};

use crate::admin::{Admin, AdminServer, Parts, Readiness, SlackLink};
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
    // First, so that every part records from its start.
    let admin = match options.admin {
        Some(address) => Some(start_admin(address, options.log_format).await?),
        None => None,
    };
    let catalog = Catalog::load_with(&options.config, &SlackIdentities)?;
    // The document the readiness probe describes.
    let probe_document = catalog.services().next().map(|s| s.document().to_owned());
    // Bad state stops the start with its own message; nothing is reset.
    let (state, audit) = open_stores(&options.state, &options.audit).await?;
    let audit = FanOutAuditSink::new()
        .with_sink(audit)
        .with_sink(Arc::new(TracingAuditSink));
    let slack = Arc::new(SlackSurface::from_env()?);
    let bot = slack.auth_test().await.map_err(BotError::from_auth_test)?;
    let backend: Arc<dyn DeployBackend> = Arc::new(SsmBackend::from_env().await?);
    let ready = ReadyParts {
        state: Arc::clone(&state),
        backend: Arc::clone(&backend),
        document: probe_document,
    };

    let engine = Engine::builder()
        .with_catalog(catalog)
        .with_chat(slack)
        .with_backend(backend)
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
            ready.started(&admin, SlackLink::SocketMode(listener.connection()));
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
            announce(
                options.log_format,
                "listening on",
                address,
                "listening on the Events API",
            );
            ready.started(&admin, SlackLink::EventsApi(address));
            listener
                .serve(socket, shutdown)
                .await
                .map_err(|source| BotError::EventsApi { source })?;
        }
    }
    // Not ready from now on; still live while releases finish their step.
    if let Some((_, admin)) = &admin {
        admin.readiness.stopping();
    }
    engine.shutdown();
    // Let each release finish the step it is in, so its state is recorded.
    if !engine.until_stopped(Duration::from_secs(10)).await {
        tracing::warn!("some releases were mid-step at exit; they resume on the next start");
    }
    tracing::info!("stopped; releases in flight resume on the next start");
    drop(admin);
    Ok(())
}

/// What readiness looks at, but Slack's link (known once the listener is).
struct ReadyParts {
    state: Arc<dyn StateStore>,
    backend: Arc<dyn DeployBackend>,
    document: Option<String>,
}

impl ReadyParts {
    /// Hands the parts to the admin listener's readiness, if there is one.
    fn started(self, admin: &Option<(AdminServer, Arc<Admin>)>, slack: SlackLink) {
        if let Some((_, admin)) = admin {
            admin.readiness.started(Parts {
                state: self.state,
                backend: self.backend,
                document: self.document,
                slack,
            });
        }
    }
}

/// Installs the metrics recorder and serves `/livez`, `/readyz` and
/// `/metrics` on `address` (not ready until the bot has started).
async fn start_admin(
    address: SocketAddr,
    format: LogFormat,
) -> Result<(AdminServer, Arc<Admin>), BotError> {
    let tcp = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| BotError::Admin { address, source })?;
    let admin = Arc::new(Admin {
        metrics: crate::admin::install_recorder()?,
        readiness: Readiness::new(),
    });
    let server = AdminServer::start(tcp, Arc::clone(&admin));
    announce(
        format,
        "admin listening on",
        server.address(),
        "admin listening (health and metrics)",
    );
    Ok((server, admin))
}

/// Says where a listener listens: the `PREFIX http://ADDR` line scripts
/// (and the tests) wait for in text mode; only JSON lines in JSON mode.
fn announce(format: LogFormat, prefix: &str, address: SocketAddr, message: &str) {
    match format {
        LogFormat::Text => crate::report::line(&format!("{prefix} http://{address}")),
        _ => tracing::info!(url = %format!("http://{address}"), "{message}"),
    }
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
