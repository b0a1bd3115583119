//! The `chatdeploy` binary as an operator runs it (`cargo install --path .`
//! builds this same binary): `--version`, `check` strict about what it could
//! not check, a closed stdout, a bad `RUST_LOG`, missing settings, and `run`
//! with JSON logs that are only JSON, each audit record once as an object.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::binary::{ALICE, Bed, mention};

fn run(command: &mut Command) -> (i32, String, String) {
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_binary() {
    let (code, stdout, _) = run(Command::new(env!("CARGO_BIN_EXE_chatdeploy")).arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("chatdeploy {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_only_when_everything_was_checked() {
    let bed = Bed::start().await;
    let (code, stdout, stderr) = run(&mut bed.chatdeploy(&["check", "--listen", "127.0.0.1:0"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    for line in [
        "ok    AWS: credentials of arn:aws:iam::123456789012:",
        "ok    app: document Deploy-App and its parameters",
        "ok    Slack: the token belongs to <@",
        "ok    Slack: SLACK_SIGNING_SECRET is set",
        "check passed",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    // Socket Mode (no --listen here: check asks for the app token).
    let (code, stdout, _) = run(bed
        .chatdeploy(&["check"])
        .env("SLACK_APP_TOKEN", "xapp-1-test"));
    assert_eq!(code, 1, "the fake has no socket URL to give: {stdout}");
    assert!(stdout.contains("FAIL  Slack: "), "{stdout}");
    bed.slack.set_socket_url("ws://127.0.0.1:9/");
    let (code, stdout, _) = run(bed
        .chatdeploy(&["check"])
        .env("SLACK_APP_TOKEN", "xapp-1-test"));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("ok    Slack: the app token opens Socket Mode connections"),
        "{stdout}"
    );

    // No AWS credentials anywhere: the AWS part is skipped, and a skip
    // fails the check unless --allow-skip.
    let no_aws = |command: &mut Command| {
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", "/nonexistent/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    };
    let mut command = bed.chatdeploy(&["check", "--listen", "127.0.0.1:0"]);
    no_aws(&mut command);
    let (code, stdout, _) = run(&mut command);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("skip  AWS: no AWS credentials could be loaded"),
        "{stdout}"
    );
    // The report alone on stdout; the SDK's warnings go to the logs (stderr).
    for line in stdout.lines() {
        let report = ["ok    ", "FAIL  ", "skip  ", "warn  ", "check "];
        assert!(
            report.iter().any(|p| line.starts_with(p)),
            "{line:?} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("check incomplete: 1 part(s) not checked (AWS)"),
        "{stdout}"
    );
    let mut command = bed.chatdeploy(&["check", "--listen", "127.0.0.1:0", "--allow-skip"]);
    no_aws(&mut command);
    let (code, stdout, _) = run(&mut command);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("check passed with 1 part(s) not checked (--allow-skip): AWS"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_output_without_a_panic() {
    let bed = Bed::start().await;
    let mut child = bed
        .chatdeploy(&["check"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (as `| head -1` exits): later writes fail.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(first.starts_with("ok    configuration"), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rust_log_or_missing_settings_stop_the_start_with_what_to_do() {
    let bed = Bed::start().await;
    let (code, stdout, stderr) = run(bed.chatdeploy(&["run"]).env("RUST_LOG", "chatdeploy=loud"));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("RUST_LOG=`chatdeploy=loud` is not a log filter"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");

    let (code, _, stderr) = run(bed.chatdeploy(&["run"]).env_remove("SLACK_BOT_TOKEN"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("SLACK_BOT_TOKEN (the bot token, xoxb-…)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SLACK_APP_TOKEN"),
        "no --listen: Socket Mode needs the app token: {stderr}"
    );

    std::fs::remove_file(bed.path("chatdeploy.toml")).unwrap();
    let (code, _, stderr) = run(&mut bed.chatdeploy(&["run", "--listen", "127.0.0.1:0"]));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.matches("No such file").count(),
        1,
        "the cause once: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_only_json_with_each_audit_record_once_as_an_object() {
    let bed = Bed::start().await;
    let mut child = bed
        .chatdeploy(&["run", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let next = |lines: &mut Vec<String>| {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line");
        lines.push(line.clone());
        line
    };
    let addr = loop {
        let line = next(&mut lines);
        let json: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if let Some(url) = json["fields"]["url"].as_str() {
            break url.trim_start_matches("http://").to_owned();
        }
    };
    assert_eq!(
        mention(
            &addr,
            bed.slack.bot_user(),
            "EvBin1",
            ALICE,
            "deploy app r-99.1.0"
        )
        .await,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l| l.contains("\"action\":\"started\"")) {
        assert!(Instant::now() < deadline, "no started record in {lines:#?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    nix_term(child.id());
    let status = child.wait().unwrap();
    lines.extend(rx.try_iter());
    assert!(status.success(), "{status:?}");
    let parsed: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let audit: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["target"] == "chatdeploy::audit")
        .map(|l| &l["fields"]["record"])
        .collect();
    assert!(audit.iter().all(|r| r.is_object()), "{audit:#?}");
    let requested = audit.iter().filter(|r| r["action"] == "requested").count();
    assert_eq!(requested, 1, "{audit:#?}");
    assert_eq!(
        audit.iter().filter(|r| r["action"] == "started").count(),
        1,
        "{audit:#?}"
    );
}

/// SIGTERM, as systemd and container runtimes stop the bot.
fn nix_term(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
