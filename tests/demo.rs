//! The offline demo, driven through stdin as a script.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    deps.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

fn run_demo(script: &str) -> (i32, String) {
    let mut child = Command::new(example("demo"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo example is built by `cargo test`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (output.status.code().unwrap_or(-1), stdout)
}

#[test]
fn a_scripted_release_runs_to_success_and_exits_zero() {
    let (code, out) = run_demo("alice: deploy app r-99.1.0\nbob: approve app\n");
    assert_eq!(code, 0, "{out}");
    let requested = out
        .find("app r-99.1.0 to production: requested")
        .expect(&out);
    let asked = out
        .find("@bob @carol approval needed at step ApproveRelease")
        .expect(&out);
    let approved = out.find("approved by @bob").expect(&out);
    let done = out
        .find("app r-99.1.0 to production succeeded in")
        .expect(&out);
    assert!(
        requested < asked && asked < approved && approved < done,
        "{out}"
    );
    assert!(out.contains("audit log: "), "{out}");
}

#[test]
fn readers_and_typos_get_answers_and_the_demo_still_exits_zero() {
    let (code, out) =
        run_demo("erin: deploy app r-99.1.0\nalice: depoly app r-1.0.0\nerin: status\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("You are not a deployer of app"), "{out}");
    assert!(out.contains("Did you mean `deploy`?"), "{out}");
    assert!(out.contains("Status of 2 services"), "{out}");
}

/// The bring-your-own-chat-surface example runs a release end to end.
#[test]
fn the_own_chat_example_runs_a_release_offline() {
    let output = Command::new(example("own_chat"))
        .output()
        .expect("the own_chat example is built by `cargo test`");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("@bob approval needed at step Approve"),
        "{stdout}"
    );
    assert!(
        stdout.contains("app v42 to production succeeded in"),
        "{stdout}"
    );
    assert!(!stdout.contains("<@"), "no chat markup: {stdout}");
}
