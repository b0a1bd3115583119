//! The real bot: Slack in front, AWS SSM Automation behind. The same
//! program as the installed `chatdeploy` binary.
//!
//! ```text
//! cargo run --example slack_ssm -- --config chatdeploy.toml
//! cargo run --example slack_ssm -- --config chatdeploy.toml check
//! ```
//!
//! Slack tokens come from the environment: `SLACK_BOT_TOKEN`, plus
//! `SLACK_APP_TOKEN` for Socket Mode (the default) or `SLACK_SIGNING_SECRET`
//! with `--listen ADDR` for the Events API. AWS comes from the default
//! credential chain (environment, profiles including SSO and
//! `credential_process`, container and instance roles) and region. State is
//! kept in SQLite (`--state FILE`, one process) or PostgreSQL (`--state
//! postgres://…`, any number of replicas), the audit log in a JSONL file or
//! the same database (`--audit`); SIGINT/SIGTERM stop the bot and releases
//! in flight are resumed on the next start, or taken over by another
//! replica. With PostgreSQL, the tables live in the schema
//! `CHATDEPLOY_POSTGRES_SCHEMA` names (default `chatdeploy`), over at most
//! `CHATDEPLOY_POSTGRES_POOL_SIZE` connections (default 16).
//!
//! With `--admin 127.0.0.1:9102` it also serves `/livez`, `/readyz` and
//! `/metrics` (Prometheus) there; README.md's "Health and metrics" lists
//! the endpoints and the metrics.
//!
//! How the parts are put together, in the order an embedder follows, is
//! `chatdeploy::bot::run` (chatdeploy-bot/src/run.rs):
//!
//! 0. with `--admin`, the metrics recorder
//!    (`chatdeploy::bot::install_recorder`) and the admin listener;
//! 1. the catalog, with Slack's rules for user and channel IDs
//!    (`Catalog::load_with(path, &SlackIdentities)`);
//! 2. the state store and the audit sink from `--state` and `--audit`
//!    (`chatdeploy::bot::open_stores`), the audit fanned out to the logs;
//! 3. `SlackSurface::from_env()` and `auth_test()` (who the bot is);
//! 4. `SsmBackend::from_env()`;
//! 5. `Engine::builder()…build()`, then `engine.resume()` for releases in
//!    flight;
//! 6. a `SocketModeListener` or an `EventsApiListener` handing events to the
//!    engine until the shutdown signal;
//! 7. `engine.shutdown()` and `until_stopped`, so each release records the
//!    step it is in.

fn main() -> std::process::ExitCode {
    chatdeploy::bot::main(chatdeploy::bot::Cli::from_process_args())
}
