//! The command line: `chatdeploy [run|check] [options]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::interval::parse_interval;

/// Slack-first production releases on AWS SSM Automation.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatdeploy", version)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The same as the `check` subcommand.
    #[arg(long, global = true)]
    pub check: bool,
    /// Settings shared by `run` and `check`.
    #[command(flatten)]
    pub options: Options,
}

/// The subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Serve Slack until SIGINT or SIGTERM (the default).
    Run,
    /// Check the configuration, AWS and Slack, then exit: 0 when everything
    /// was checked and passed.
    Check,
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Serve.
    Run,
    /// Check and exit.
    Check,
}

impl Cli {
    /// The process's command line, parsed; on a mistake or `--help` this
    /// prints clap's message and exits (2 for a mistake).
    #[must_use]
    pub fn from_process_args() -> Self {
        Self::parse()
    }

    /// `check` (subcommand or `--check`) or `run`.
    #[must_use]
    pub fn action(&self) -> Action {
        match (self.command, self.check) {
            (Some(Command::Check), _) | (_, true) => Action::Check,
            _ => Action::Run,
        }
    }
}

/// Settings shared by `run` and `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The configuration file.
    #[arg(long, global = true, default_value = "chatdeploy.toml")]
    pub config: PathBuf,
    /// Serve the Slack Events API on this address instead of using Socket
    /// Mode (needs SLACK_SIGNING_SECRET).
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Serve health and metrics on this address (e.g. 127.0.0.1:9102):
    /// `/livez`, `/readyz` and `/metrics` in the Prometheus text format.
    /// It has no authentication: keep it on loopback or an address only
    /// the orchestrator and the scraper reach.
    #[arg(long, global = true, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Where releases in flight, locks and history are kept: a SQLite file
    /// (one process only) or a `postgres://` URL (shared by replicas).
    #[arg(long, global = true, default_value = "chatdeploy.db")]
    pub state: String,
    /// The audit log: a JSON Lines file (appended and fsynced) or a
    /// `postgres://` URL.
    #[arg(long, global = true, default_value = "audit.jsonl")]
    pub audit: String,
    /// This process's name among replicas, shown as the owner of the
    /// releases it runs (default: host name and process ID).
    #[arg(long, global = true)]
    pub replica_id: Option<String>,
    /// How logs are written (level from RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How often an execution that waits for people is checked, e.g. to
    /// notice decisions made in the AWS console sooner (e.g. 10s, 500ms).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_interval)]
    pub poll_waiting: Duration,
    /// How long a replica's claim on a release holds unless renewed: a
    /// dead replica's releases are taken over after about this long
    /// (e.g. 30s; shorter means faster takeover but more renewals).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_interval)]
    pub lease_ttl: Duration,
    /// `check`: exit 0 even when parts could not be checked (no
    /// credentials, a permission that cannot be simulated).
    #[arg(long, global = true)]
    pub allow_skip: bool,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    Text,
    /// One JSON object per line, with structured fields.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("chatdeploy").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn check_is_a_subcommand_or_a_flag_and_run_the_default() {
        assert_eq!(parse(&[]).action(), Action::Run);
        assert_eq!(parse(&["run"]).action(), Action::Run);
        assert_eq!(parse(&["check"]).action(), Action::Check);
        assert_eq!(parse(&["--check"]).action(), Action::Check);
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        let before = parse(&["--config", "a.toml", "check", "--allow-skip"]);
        let after = parse(&["check", "--config", "a.toml", "--allow-skip"]);
        for cli in [before, after] {
            assert_eq!(cli.options.config, PathBuf::from("a.toml"));
            assert!(cli.options.allow_skip);
        }
    }

    #[test]
    fn admin_is_an_address_anywhere_on_the_line() {
        assert_eq!(parse(&[]).options.admin, None);
        let cli = parse(&["run", "--admin", "127.0.0.1:9102"]);
        assert_eq!(cli.options.admin, Some("127.0.0.1:9102".parse().unwrap()));
        assert!(Cli::try_parse_from(["chatdeploy", "--admin", "localhost"]).is_err());
    }

    #[test]
    fn a_bad_interval_is_refused_with_the_unit_to_use() {
        let error = Cli::try_parse_from(["chatdeploy", "--lease-ttl", "30"]).unwrap_err();
        assert!(error.to_string().contains("write e.g. 10s"), "{error}");
    }
}
