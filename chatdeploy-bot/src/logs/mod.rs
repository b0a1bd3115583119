//! Logs on stdout: text for people (coloured only on a terminal) or one
//! JSON object per line for collectors, at the level `RUST_LOG` sets.

mod json;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogsError {
    /// `RUST_LOG` is not a filter.
    #[error(
        "RUST_LOG=`{value}` is not a log filter ({source}); write e.g. RUST_LOG=info or RUST_LOG=chatdeploy=debug,info"
    )]
    InvalidFilter {
        /// The variable's value.
        value: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// Another logger was installed first.
    #[error("a logger is already installed in this process")]
    AlreadySet {
        /// What `tracing` said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The filter `RUST_LOG` names; `info` when it is unset or empty.
///
/// # Errors
///
/// [`LogsError::InvalidFilter`] when `RUST_LOG` does not parse: a typo
/// must not silently log at another level.
pub fn filter_from_env() -> Result<EnvFilter, LogsError> {
    match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => EnvFilter::builder()
            .parse(&value)
            .map_err(|source| LogsError::InvalidFilter { value, source }),
        _ => Ok(EnvFilter::new("info")),
    }
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOutput {
    /// Standard output: `run`, whose output is its logs.
    Stdout,
    /// Standard error: `check`, whose standard output is its report.
    Stderr,
}

/// Installs the process's logger, writing to `output` in `format`.
///
/// # Errors
///
/// [`LogsError`] for an invalid `RUST_LOG` or when a logger is already set.
pub fn init_logs(format: LogFormat, output: LogOutput) -> Result<(), LogsError> {
    let filter = filter_from_env()?;
    let installed = match output {
        LogOutput::Stdout => install(
            format,
            filter,
            std::io::stdout,
            std::io::stdout().is_terminal(),
        ),
        LogOutput::Stderr => install(
            format,
            filter,
            std::io::stderr,
            std::io::stderr().is_terminal(),
        ),
    };
    installed.map_err(|source| LogsError::AlreadySet { source })
}

fn install<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    terminal: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // A closed output (`| head`) ends the logs, not the bot.
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.event_format(json::JsonLines).try_init(),
        // Colours only for a person at a terminal, never in a file or pipe.
        _ => builder.with_ansi(terminal).try_init(),
    }
}
