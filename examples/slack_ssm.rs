//! The real bot: Slack in front, AWS SSM Automation behind.
//!
//! ```text
//! cargo run --example slack_ssm -- --config chatdeploy.toml
//! cargo run --example slack_ssm -- --config chatdeploy.toml --check
//! ```
//!
//! Slack tokens come from the environment: `SLACK_BOT_TOKEN`, plus
//! `SLACK_APP_TOKEN` for Socket Mode (the default) or `SLACK_SIGNING_SECRET`
//! with `--listen ADDR` for the Events API. AWS comes from the default
//! credential chain and region. State is kept in SQLite (`--state FILE`, one
//! process) or PostgreSQL (`--state postgres://…`, any number of replicas),
//! the audit log in a JSONL file or the same database (`--audit`);
//! SIGINT/SIGTERM stop the bot and releases in flight are resumed on the next
//! start, or taken over by another replica.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chatdeploy::aws::SsmBackend;
use chatdeploy::core::Catalog;
use chatdeploy::core::audit::{AuditSink, FanOutAuditSink, JsonlAuditSink, TracingAuditSink};
use chatdeploy::core::backend::{BackendError, DeployBackend};
use chatdeploy::core::chat::EventHandler;
use chatdeploy::core::engine::{Engine, PollPolicy};
use chatdeploy::core::preflight;
use chatdeploy::core::state::StateStore;
use chatdeploy::slack::{EventsApiListener, SlackSurface, SocketModeListener};
use chatdeploy::sqlite::SqliteStateStore;
use chatdeploy_postgres::{PostgresAuditSink, PostgresStateStore};
use clap::{Parser, ValueEnum};

/// Slack-first production releases on AWS SSM Automation.
#[derive(Debug, Parser)]
#[command(name = "slack_ssm", version)]
struct Args {
    /// The configuration file.
    #[arg(long, default_value = "chatdeploy.toml")]
    config: PathBuf,
    /// Serve the Slack Events API on this address instead of using Socket
    /// Mode (needs SLACK_SIGNING_SECRET).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Check the configuration, AWS and Slack, then exit.
    #[arg(long)]
    check: bool,
    /// Where releases in flight, locks and history are kept: a SQLite file
    /// (one process only) or a `postgres://` URL (shared by replicas).
    #[arg(long, default_value = "chatdeploy.db")]
    state: String,
    /// The audit log: a JSON Lines file (appended and fsynced) or a
    /// `postgres://` URL.
    #[arg(long, default_value = "audit.jsonl")]
    audit: String,
    /// This process's name among replicas, shown as the owner of the
    /// releases it runs (default: host name and process ID).
    #[arg(long)]
    replica_id: Option<String>,
    /// How logs are written (level from RUST_LOG).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// How often an execution that waits for people is checked, e.g. to
    /// notice decisions made in the AWS console sooner (e.g. 10s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    poll_waiting: std::time::Duration,
}

/// `500ms`, `10s`, `2m`.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit; write e.g. 10s or 500ms"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number; write e.g. 10s"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        other => return Err(format!("`{other}` is not a unit; use ms, s or m")),
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(format!("`{text}` must be between 1ms and 60m"));
    }
    Ok(duration)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

const SETUP_HELP: &str = "See \"Connect your Slack and AWS\" in README.md: create the Slack app \
from deploy/slack-app-manifest.yml, then export SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN \
(xapp-…, Socket Mode) or SLACK_SIGNING_SECRET with --listen ADDR (Events API); AWS uses the \
default credential chain (AWS_PROFILE or AWS_ACCESS_KEY_ID…, and AWS_REGION).";

/// Which Slack transport the environment asks for.
enum Transport {
    SocketMode {
        app_token: String,
    },
    EventsApi {
        signing_secret: String,
        listen: SocketAddr,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The transport, or the list of what is missing.
fn transport(args: &Args) -> Result<Transport, Vec<&'static str>> {
    let mut missing = Vec::new();
    if env("SLACK_BOT_TOKEN").is_none() {
        missing.push("SLACK_BOT_TOKEN (the bot token, xoxb-…)");
    }
    let transport = match args.listen {
        Some(listen) => match env("SLACK_SIGNING_SECRET") {
            Some(signing_secret) => Some(Transport::EventsApi {
                signing_secret,
                listen,
            }),
            None => {
                missing.push("SLACK_SIGNING_SECRET (for the Events API with --listen)");
                None
            }
        },
        None => match env("SLACK_APP_TOKEN") {
            Some(app_token) => Some(Transport::SocketMode { app_token }),
            None => {
                missing.push(
                    "SLACK_APP_TOKEN (the app-level token, xapp-…, for Socket Mode; or \
                     SLACK_SIGNING_SECRET with --listen ADDR for the Events API)",
                );
                None
            }
        },
    };
    match transport {
        Some(transport) if missing.is_empty() => Ok(transport),
        _ => Err(missing),
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logs(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.check {
        runtime.block_on(check(&args))
    } else {
        let transport = match transport(&args) {
            Ok(transport) => transport,
            Err(missing) => {
                eprintln!("chatdeploy needs these environment variables:");
                for name in missing {
                    eprintln!("  - {name}");
                }
                eprintln!("{SETUP_HELP}");
                return ExitCode::from(2);
            }
        };
        runtime.block_on(serve(&args, transport))
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_catalog(path: &Path) -> anyhow::Result<Catalog> {
    Ok(Catalog::load_with(
        path,
        &chatdeploy::slack::SlackIdentities,
    )?)
}

/// `--check`: the configuration, then AWS and Slack where credentials exist.
async fn check(args: &Args) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(&args.config)?;
    println!(
        "ok    configuration {} ({} services)",
        args.config.display(),
        catalog.services().count()
    );
    let mut problems = 0usize;
    let mut skipped = 0usize;

    let backend = SsmBackend::from_env().await;
    match &backend {
        Err(error) => {
            skipped += 1;
            println!("skip  AWS: {error}");
        }
        Ok(backend) => match backend.check_credentials().await {
            Err(why) => {
                skipped += 1;
                println!("skip  AWS: no credentials ({why})");
            }
            Ok(()) => {
                for service in catalog.services() {
                    match backend.describe(service.document()).await {
                        Ok(document) => {
                            let findings = preflight::check_parameters(service, &document);
                            if findings.is_empty() {
                                println!(
                                    "ok    {}: document {} and its parameters",
                                    service.name(),
                                    service.document()
                                );
                            }
                            for finding in findings {
                                problems += 1;
                                println!("FAIL  {finding}");
                            }
                            problems += check_gate(backend, service).await;
                        }
                        Err(BackendError::NotFound { .. }) => {
                            problems += 1;
                            println!(
                                "FAIL  service {}: document {} does not exist in {}",
                                service.name(),
                                service.document(),
                                backend.region()
                            );
                        }
                        Err(error) => {
                            problems += 1;
                            println!("FAIL  service {}: {}", service.name(), error.user_message());
                        }
                    }
                }
            }
        },
    }

    if env("SLACK_BOT_TOKEN").is_none() {
        skipped += 1;
        println!("skip  Slack: SLACK_BOT_TOKEN is not set");
    } else {
        let slack = SlackSurface::from_env()?;
        match slack.auth_test().await {
            Err(error) => {
                problems += 1;
                println!(
                    "FAIL  Slack auth.test: {error}; {}",
                    chatdeploy::slack::hint(&error)
                );
            }
            Ok(bot) => {
                println!("ok    Slack: the token belongs to <@{}>", bot.user_id);
                for channel in catalog.chat().deploy_channels() {
                    match slack.is_member(channel).await {
                        Ok(true) => println!("ok    the bot is in <#{channel}>"),
                        Ok(false) => {
                            problems += 1;
                            println!(
                                "FAIL  the bot is not in <#{channel}>: type `/invite @deploybot` there"
                            );
                        }
                        Err(error) => {
                            problems += 1;
                            println!(
                                "FAIL  <#{channel}>: {error}; {}",
                                chatdeploy::slack::hint(&error)
                            );
                        }
                    }
                }
            }
        }
    }
    if problems == 0 {
        match skipped {
            0 => println!("preflight passed"),
            n => println!("preflight passed ({n} part(s) skipped for lack of credentials)"),
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!("preflight found {problems} problem(s)");
        Ok(ExitCode::FAILURE)
    }
}

/// The approval gate of a service whose approval lives in its document;
/// returns the number of problems found.
async fn check_gate(backend: &SsmBackend, service: &chatdeploy::core::Service) -> usize {
    use chatdeploy::core::catalog::ApprovalMode;
    if service.approval_mode() != ApprovalMode::Document {
        return 0;
    }
    let request = preflight::sample_request(service);
    match backend.approval_gate(&request).await {
        Ok(gate) => {
            let (findings, warnings) = preflight::check_gate(service, &gate);
            for warning in &warnings {
                println!("warn  service {}: {warning}", service.name());
            }
            if findings.is_empty() {
                let steps: Vec<&str> = gate.steps.iter().map(|s| s.name.as_str()).collect();
                println!(
                    "ok    {}: approval step {} answerable by the bot ({})",
                    service.name(),
                    steps.join(", "),
                    gate.identity
                );
            }
            for finding in &findings {
                println!("FAIL  {finding}");
            }
            findings.len()
        }
        Err(error) => {
            println!(
                "FAIL  service {}: cannot verify the approval step of document {}: {}",
                service.name(),
                service.document(),
                error.user_message()
            );
            1
        }
    }
}

/// The default polling, checking waiting executions every `waiting`.
fn polling(waiting: std::time::Duration) -> PollPolicy {
    let default = PollPolicy::default();
    PollPolicy {
        fast: default.fast.min(waiting),
        waiting,
        ..default
    }
}

/// Runs the bot until SIGINT or SIGTERM.
async fn serve(args: &Args, transport: Transport) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(&args.config)?;
    // Bad state stops the start with its own message; nothing is reset.
    let (state, audit) = open_stores(&args.state, &args.audit).await?;
    let audit = FanOutAuditSink::new()
        .with_sink(audit)
        .with_sink(Arc::new(TracingAuditSink));
    let slack = Arc::new(SlackSurface::from_env()?);
    let bot = slack.auth_test().await.map_err(|error| {
        anyhow::anyhow!(
            "Slack refused the bot token: {error}; {}",
            chatdeploy::slack::hint(&error)
        )
    })?;
    let backend = SsmBackend::from_env().await.context("configuring AWS")?;

    let engine = Engine::builder()
        .with_catalog(catalog)
        .with_chat(slack)
        .with_backend(Arc::new(backend))
        .with_audit(Arc::new(audit))
        .with_state(state)
        .with_replica_id(args.replica_id.clone().unwrap_or_else(default_replica_id))
        .with_polling(polling(args.poll_waiting))
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
            listener.run(shutdown_signal()).await?;
        }
        Transport::EventsApi {
            signing_secret,
            listen,
        } => {
            let listener = EventsApiListener::new(&signing_secret, handler)
                .with_bot_user(bot.user_id.as_str());
            let socket = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!("listening on http://{}", socket.local_addr()?);
            listener.serve(socket, shutdown_signal()).await?;
        }
    }
    engine.shutdown();
    // Let each release finish the step it is in, so its state is recorded.
    if !engine
        .until_stopped(std::time::Duration::from_secs(10))
        .await
    {
        tracing::warn!("some releases were mid-step at exit; they resume on the next start");
    }
    tracing::info!("stopped; releases in flight resume on the next start");
    Ok(ExitCode::SUCCESS)
}

fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// The state store and audit sink `--state` and `--audit` name.
async fn open_stores(
    state: &str,
    audit: &str,
) -> anyhow::Result<(Arc<dyn StateStore>, Arc<dyn AuditSink>)> {
    if is_postgres(state) {
        let store = PostgresStateStore::connect(state).await?;
        let sink: Arc<dyn AuditSink> = if audit == state {
            Arc::new(store.audit_sink())
        } else if is_postgres(audit) {
            Arc::new(PostgresAuditSink::connect(audit).await?)
        } else {
            Arc::new(JsonlAuditSink::open(Path::new(audit))?)
        };
        return Ok((Arc::new(store), sink));
    }
    let store = SqliteStateStore::open(Path::new(state))?;
    let sink: Arc<dyn AuditSink> = if is_postgres(audit) {
        Arc::new(PostgresAuditSink::connect(audit).await?)
    } else {
        Arc::new(JsonlAuditSink::open(Path::new(audit))?)
    };
    Ok((Arc::new(store), sink))
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

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the bot");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
