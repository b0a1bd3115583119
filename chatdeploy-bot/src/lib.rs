//! The chatdeploy bot as a program: its command line ([`Cli`]), the state
//! store and audit log named by path or URL ([`open_stores`]), logs
//! ([`init_logs`]), the preflight check ([`check`]), the serve loop
//! ([`run`]) and, with `--admin ADDR`, health and metrics (`/livez`,
//! `/readyz`, `/metrics`; see [`install_recorder`]).
//!
//! The installed `chatdeploy` binary and `cargo run --example slack_ssm`
//! are both this crate's [`main`]: one program, one wiring. Embedders who
//! build their own bot read [`run`] (in `run.rs`) for the order in which the
//! parts are put together.
//!
//! ```no_run
//! use clap::Parser;
//!
//! fn main() -> std::process::ExitCode {
//!     chatdeploy_bot::main(chatdeploy_bot::Cli::parse())
//! }
//! ```

mod admin;
mod args;
mod check;
mod error;
mod interval;
mod logs;
mod report;
mod run;
mod signal;
mod stores;
mod transport;

pub use admin::{MetricsError, install_recorder};
pub use args::{Action, Cli, Command, LogFormat, Options};
pub use check::{CheckSummary, check};
pub use error::{BotError, sentence};
pub use interval::parse_interval;
pub use logs::{LogOutput, LogsError, filter_from_env, init_logs};
pub use run::run;
pub use signal::shutdown_signal;
pub use stores::{connect_postgres, is_postgres, open_stores};
pub use transport::{SETUP_HELP, Transport, transport_from_env};

use std::process::ExitCode;

/// The whole program: logs, then `check` or `run`; the exit code says how
/// it went (0 fine, 1 a failure or a failed check, 2 a setup mistake).
#[must_use]
pub fn main(cli: Cli) -> ExitCode {
    let options = cli.options.clone();
    let output = match cli.action() {
        Action::Check => LogOutput::Stderr,
        Action::Run => LogOutput::Stdout,
    };
    if let Err(error) = init_logs(options.log_format, output) {
        report::error_line(&format!("error: {}", sentence(&error)));
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            report::error_line(&format!("error: cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match cli.action() {
        Action::Check => match runtime.block_on(check(&options)) {
            Ok(summary) => summary.exit_code(options.allow_skip),
            Err(error) => {
                report::error_line(&format!("error: {}", sentence(&error)));
                ExitCode::FAILURE
            }
        },
        Action::Run => match runtime.block_on(run(&options, shutdown_signal())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error @ BotError::Setup { .. }) => {
                report::error_line(&sentence(&error));
                ExitCode::from(2)
            }
            Err(error) => {
                tracing::error!(error = %sentence(&error), "chatdeploy stopped");
                report::error_line(&format!("error: {}", sentence(&error)));
                ExitCode::FAILURE
            }
        },
    }
}
