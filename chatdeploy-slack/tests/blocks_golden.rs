#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Golden tests of the rendered Block Kit JSON. Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p chatdeploy-slack --test blocks_golden`.

use std::path::PathBuf;

use chatdeploy_core::chat::{
    Button, ButtonAction, ButtonStyle, Confirm, Message, StepLine, StepState, Text, Tone,
};
use chatdeploy_core::ids::{DeploymentId, UserId};
use chatdeploy_slack::blocks::{self, MAX_BLOCKS, MAX_SECTION_TEXT};
use serde_json::Value;
use slack_morphism::prelude::SlackBlock;

fn check(name: &str, message: &Message) {
    let rendered = blocks::render(message).to_json();
    // What slack-morphism sends is exactly what was rendered.
    let typed: Vec<SlackBlock> = serde_json::from_value(rendered["blocks"].clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        rendered["blocks"],
        "{name}: lost in slack-morphism"
    );
    assert!(rendered["blocks"].as_array().unwrap().len() <= MAX_BLOCKS);

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = format!("{}\n", serde_json::to_string_pretty(&rendered).unwrap());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        text, golden,
        "{name}: rendering changed (UPDATE_GOLDEN=1 to accept)"
    );
}

fn step(name: &str, state: StepState, note: Option<&str>) -> StepLine {
    StepLine {
        name: name.into(),
        state,
        note: note.map(Into::into),
    }
}

fn approval_buttons(deployment: &str) -> [Button; 2] {
    [
        Button {
            action: ButtonAction::Approve,
            deployment: DeploymentId::new(deployment),
            label: "Approve".into(),
            style: ButtonStyle::Primary,
            confirm: Some(Confirm {
                title: "Approve the release?".into(),
                text: "app r-99.1.0 goes to production.".into(),
                confirm: "Approve".into(),
                deny: "Cancel".into(),
            }),
        },
        Button {
            action: ButtonAction::Reject,
            deployment: DeploymentId::new(deployment),
            label: "Reject".into(),
            style: ButtonStyle::Danger,
            confirm: None,
        },
    ]
}

#[test]
fn status_message_with_steps() {
    let headline = Text::plain("🔄 Deploying ")
        .emphasis("app")
        .and(" ")
        .code("r-99.1.0")
        .and(" to ")
        .emphasis("production");
    let mut message = Message::text(headline)
        .with_tone(Tone::Progress)
        .with_field("Service", "app")
        .with_field("Version", "r-99.1.0")
        .with_field("Environment", "production")
        .with_field("Requested by", Text::new().user(UserId::new("U01")))
        .with_link(
            "Release",
            "https://github.com/acme/app/releases/tag/r-99.1.0",
        )
        .with_link(
            "Execution",
            "https://console.aws.amazon.com/systems-manager/automation/execution/abc",
        )
        .with_link("Ticket", "https://jira.acme.dev/browse/OPS-1");
    message.steps = vec![
        step("UpdateParameter", StepState::Done, None),
        step("Deploy", StepState::Running, None),
        step("Approve", StepState::Pending, None),
        step("Verify", StepState::Skipped, Some("not needed")),
    ];
    check("status_running", &message);
}

#[test]
fn approval_request() {
    let user = |id: &str| Text::new().user(UserId::new(id));
    let headline = Text::plain("⏳ ")
        .then(user("U02"))
        .and(" ")
        .then(user("U03"))
        .and(": ")
        .emphasis("app")
        .and(" ")
        .code("r-99.1.0")
        .and(" waits for approval");
    let mut message = Message::text(headline)
        .with_tone(Tone::Attention)
        .with_field("Requested by", user("U01"))
        .with_field("Approvers", user("U02").and(", ").then(user("U03")))
        .with_link("Execution", "https://console.aws.amazon.com/x");
    message.steps = vec![
        step("Deploy", StepState::Done, None),
        step("Approve", StepState::WaitingForApproval, None),
    ];
    for b in approval_buttons("d-7f3a") {
        message = message.with_button(b);
    }
    check("approval_request", &message);
}

#[test]
fn failure_with_a_long_message_is_cut_with_a_log_link() {
    let log = (0..400)
        .map(|i| format!("line {i}: error: connection reset by peer"))
        .collect::<Vec<_>>()
        .join("\n");
    let headline = Text::plain("❌ ")
        .emphasis("app")
        .and(" ")
        .code("r-99.1.0")
        .and(" failed at step Deploy");
    let mut message = Message::text(headline)
        .with_tone(Tone::Failure)
        .with_detail(Text::from_user(log))
        .with_link(
            "Release",
            "https://github.com/acme/app/releases/tag/r-99.1.0",
        )
        .with_link("Execution", "https://console.aws.amazon.com/exec/abc");
    message.steps = vec![
        step("UpdateParameter", StepState::Done, None),
        step("Deploy", StepState::Failed, Some("Step timed out")),
    ];
    check("failure_long", &message);
    let rendered = blocks::render(&message);
    let detail = rendered.blocks[2]["text"]["text"].as_str().unwrap();
    assert!(detail.chars().count() <= MAX_SECTION_TEXT);
    assert!(detail.ends_with("…\n<https://console.aws.amazon.com/exec/abc|Full log: Execution>"));
}

#[test]
fn plain_text_only() {
    check("plain", &Message::text("Nothing is in flight."));
}

#[test]
fn huge_inputs_stay_within_every_limit() {
    let mut message =
        Message::text(Text::plain("t".repeat(5_000))).with_detail(Text::plain("d".repeat(5_000)));
    for i in 0..30 {
        message = message.with_field(format!("Field {i}"), Text::plain("v".repeat(3_000)));
    }
    message.steps = (0..500)
        .map(|i| {
            step(
                &format!("Step{i}-{}", "s".repeat(40)),
                StepState::Done,
                None,
            )
        })
        .collect();
    let [mut approve, reject] = approval_buttons(&"x".repeat(2_100));
    approve.label = "A".repeat(100);
    message = message
        .with_button(approve)
        .with_button(reject)
        .with_link("Log", "https://l");
    let rendered = blocks::render(&message);
    assert!(rendered.blocks.len() <= MAX_BLOCKS);
    assert!(rendered.text.chars().count() <= 3_000);
    for block in &rendered.blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= MAX_SECTION_TEXT);
        }
        for field in block["fields"].as_array().into_iter().flatten() {
            assert!(field["text"].as_str().unwrap().chars().count() <= 2_000);
        }
        if block["type"] == "section" && block.get("fields").is_some() {
            assert!(block["fields"].as_array().unwrap().len() <= 10);
        }
    }
    let actions = rendered
        .blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("buttons kept");
    let approve = &actions["elements"][0];
    assert!(approve["text"]["text"].as_str().unwrap().chars().count() <= 75);
    assert!(approve["value"].as_str().unwrap().chars().count() <= 2_000);
    assert_eq!(
        rendered.blocks.last().unwrap()["type"],
        Value::from("context")
    );
}
