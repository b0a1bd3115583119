//! The chatdeploy bot: `chatdeploy run` (the default) serves Slack until
//! SIGINT or SIGTERM; `chatdeploy check` checks the configuration, AWS and
//! Slack, and exits non-zero if anything failed or was not checked.
//! `chatdeploy --help` lists the options; the wiring is `chatdeploy::bot`.

fn main() -> std::process::ExitCode {
    chatdeploy::bot::main(chatdeploy::bot::Cli::from_process_args())
}
