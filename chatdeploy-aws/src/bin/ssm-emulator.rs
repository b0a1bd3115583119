//! `ssm-emulator`: the SSM Automation emulator as a process, for tests and
//! demos that run it out of process.
//!
//! ```text
//! ssm-emulator [--port N] [--step-delay-ms N] [--cancel-delay-ms N] [--caller-arn ARN]
//!              [--identity ACCESS_KEY=ARN]... [--document NAME=PATH]...
//!              [--deny OPERATION]... [--deny-action IAM_ACTION]...
//! ```
//!
//! `--identity` attributes calls signed with an access key to an IAM ARN
//! (e.g. a second approver); `--cancel-delay-ms` is how long a stopped
//! execution stays `Cancelling`; `--deny` refuses an operation with
//! `AccessDenied` (e.g. `SimulatePrincipalPolicy`); `--deny-action` makes
//! `SimulatePrincipalPolicy` answer `implicitDeny` for an IAM action (e.g.
//! `ssm:SendAutomationSignal`).
//!
//! Prints `listening on http://127.0.0.1:PORT` once ready, then serves until
//! killed.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use chatdeploy_aws::SsmEmulator;

const USAGE: &str = "usage: ssm-emulator [--port N] [--step-delay-ms N] [--cancel-delay-ms N] \
                     [--caller-arn ARN] [--identity ACCESS_KEY=ARN]... [--document NAME=PATH]... \
                     [--deny OPERATION]... [--deny-action IAM_ACTION]...";

fn configure(args: &[String]) -> Result<chatdeploy_aws::emulator::SsmEmulatorBuilder, String> {
    let mut builder = SsmEmulator::builder();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        builder = match flag.as_str() {
            "--port" => builder.port(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--step-delay-ms" => builder.step_delay(Duration::from_millis(
                value()?
                    .parse()
                    .map_err(|e| format!("--step-delay-ms: {e}"))?,
            )),
            "--cancel-delay-ms" => builder.cancel_delay(Duration::from_millis(
                value()?
                    .parse()
                    .map_err(|e| format!("--cancel-delay-ms: {e}"))?,
            )),
            "--caller-arn" => builder.caller_arn(value()?),
            "--identity" => {
                let spec = value()?;
                let (key, arn) = spec
                    .split_once('=')
                    .filter(|(k, a)| !k.is_empty() && a.starts_with("arn:"))
                    .ok_or_else(|| format!("--identity takes ACCESS_KEY=ARN, got {spec}"))?;
                builder.identity(key, arn)
            }
            "--document" => {
                let spec = value()?;
                let (name, path) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("--document takes NAME=PATH, got {spec}"))?;
                let content = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                builder.document(name, content)
            }
            "--deny" => builder.deny(value()?),
            "--deny-action" => builder.deny_action(value()?),
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        };
    }
    Ok(builder)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let builder = match configure(&args) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("ssm-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", emulator.url());
    // Scripts wait for this line; make sure it leaves the pipe buffer.
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
